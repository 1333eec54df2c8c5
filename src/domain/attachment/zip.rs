//! A file marked as malware leaves only inside a zip encrypted with the
//! password `infected` (TheHive's and MalwareBazaar's convention): no
//! browser, mail filter or double-click runs what is inside by accident.
//!
//! One stored (uncompressed) entry with traditional PKWARE encryption, the
//! one every unzip tool opens (`unzip -P infected`, Python's `zipfile`,
//! 7-Zip, Windows' Explorer). Written as a stream: the content's CRC-32 and
//! size are known from its upload, so the headers come first and the bytes
//! pass through once, whatever their size.

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{Datelike, NaiveDateTime, Timelike};
use futures_util::stream::{self, BoxStream, StreamExt};

use crate::error::{AppError, AppResult};

/// The password, as the convention has it.
pub const PASSWORD: &[u8] = b"infected";

/// The encryption header before the data.
const HEADER_BYTES: u64 = 12;
/// Bytes of a zip beside its entry's name and data.
const OVERHEAD: u64 = 30 + HEADER_BYTES + 46 + 22;
/// General-purpose flags: encrypted (bit 0), UTF-8 name (bit 11).
const FLAGS: u16 = 0x0801;

/// The traditional PKWARE stream cipher.
struct ZipCrypto {
    keys: [u32; 3],
}

impl ZipCrypto {
    fn new(password: &[u8]) -> Self {
        let mut cipher = ZipCrypto { keys: [0x1234_5678, 0x2345_6789, 0x3456_7890] };
        for &b in password {
            cipher.update(b);
        }
        cipher
    }

    fn update(&mut self, plain: u8) {
        self.keys[0] = crc32_step(self.keys[0], plain);
        self.keys[1] = self.keys[1].wrapping_add(self.keys[0] & 0xff).wrapping_mul(134_775_813).wrapping_add(1);
        self.keys[2] = crc32_step(self.keys[2], (self.keys[1] >> 24) as u8);
    }

    fn stream_byte(&self) -> u8 {
        let t = (self.keys[2] | 2) & 0xffff;
        ((t * (t ^ 1)) >> 8) as u8
    }

    fn encrypt(&mut self, bytes: &mut [u8]) {
        for b in bytes {
            let plain = *b;
            *b = plain ^ self.stream_byte();
            self.update(plain);
        }
    }

    #[cfg(test)]
    fn decrypt(&mut self, bytes: &mut [u8]) {
        for b in bytes {
            *b ^= self.stream_byte();
            self.update(*b);
        }
    }
}

/// One byte of CRC-32 (the reflected 0xEDB88320 polynomial) without the
/// final inversion, as the cipher's key schedule uses it.
fn crc32_step(crc: u32, byte: u8) -> u32 {
    let mut c = (crc ^ u32::from(byte)) & 0xff;
    for _ in 0..8 {
        c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
    }
    c ^ (crc >> 8)
}

/// What the zip of one file is made of.
pub struct Entry<'a> {
    /// The name inside the zip.
    pub name: &'a str,
    pub crc32: u32,
    pub size: u64,
    pub modified: NaiveDateTime,
    /// The encryption header's 11 leading bytes: derived from the content,
    /// so the same file gives the same zip (a stable `ETag`).
    pub seed: [u8; 11],
}

/// The zip's length in bytes.
pub fn zipped_len(entry: &Entry<'_>) -> u64 {
    OVERHEAD + 2 * entry.name.len() as u64 + entry.size
}

/// The zip of `entry`, whose bytes `content` streams.
pub fn wrap<E: Send + 'static>(
    entry: &Entry<'_>,
    content: BoxStream<'static, Result<Bytes, E>>,
) -> AppResult<BoxStream<'static, Result<Bytes, E>>> {
    let stored = u32::try_from(entry.size + HEADER_BYTES).map_err(|_| {
        AppError::bad_input("id", "a file marked as malware is served zipped, which holds at most 4 GiB")
    })?;
    let size = u32::try_from(entry.size).unwrap_or(u32::MAX);
    let name = entry.name.as_bytes();
    let name_len = u16::try_from(name.len()).map_err(|_| AppError::internal("a file name too long for a zip"))?;
    let (time, date) = dos_time(entry.modified);

    let mut cipher = ZipCrypto::new(PASSWORD);
    let mut header = [0u8; HEADER_BYTES as usize];
    header[..11].copy_from_slice(&entry.seed);
    header[11] = (entry.crc32 >> 24) as u8;
    cipher.encrypt(&mut header);

    let mut start = BytesMut::new();
    start.put_u32_le(0x0403_4b50);
    start.put_u16_le(20);
    start.put_u16_le(FLAGS);
    start.put_u16_le(0); // stored
    start.put_u16_le(time);
    start.put_u16_le(date);
    start.put_u32_le(entry.crc32);
    start.put_u32_le(stored);
    start.put_u32_le(size);
    start.put_u16_le(name_len);
    start.put_u16_le(0);
    start.put_slice(name);
    start.put_slice(&header);

    let mut end = BytesMut::new();
    end.put_u32_le(0x0201_4b50);
    end.put_u16_le((3 << 8) | 20); // made on Unix, version 2.0
    end.put_u16_le(20);
    end.put_u16_le(FLAGS);
    end.put_u16_le(0);
    end.put_u16_le(time);
    end.put_u16_le(date);
    end.put_u32_le(entry.crc32);
    end.put_u32_le(stored);
    end.put_u32_le(size);
    end.put_u16_le(name_len);
    end.put_u16_le(0); // extra
    end.put_u16_le(0); // comment
    end.put_u16_le(0); // disk
    end.put_u16_le(0); // internal attributes
    end.put_u32_le(0o100_644 << 16); // a regular file, rw-r--r--
    end.put_u32_le(0); // the local header's offset
    end.put_slice(name);
    let directory_len = 46 + u32::from(name_len);
    let directory_at = 30 + u32::from(name_len) + stored;
    end.put_u32_le(0x0605_4b50);
    end.put_u16_le(0);
    end.put_u16_le(0);
    end.put_u16_le(1);
    end.put_u16_le(1);
    end.put_u32_le(directory_len);
    end.put_u32_le(directory_at);
    end.put_u16_le(0);

    let encrypted = content.map(move |chunk| {
        chunk.map(|bytes| {
            let mut bytes = BytesMut::from(bytes);
            cipher.encrypt(&mut bytes);
            bytes.freeze()
        })
    });
    let start = stream::once(async move { Ok(start.freeze()) });
    let end = stream::once(async move { Ok(end.freeze()) });
    Ok(start.chain(encrypted).chain(end).boxed())
}

/// MS-DOS time and date (2-second resolution, years 1980 to 2107).
fn dos_time(at: NaiveDateTime) -> (u16, u16) {
    let year = at.year().clamp(1980, 2107) as u16;
    let time = ((at.hour() as u16) << 11) | ((at.minute() as u16) << 5) | (at.second() as u16 / 2);
    let date = ((year - 1980) << 9) | ((at.month() as u16) << 5) | at.day() as u16;
    (time, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cipher_round_trips_and_matches_crc32() {
        let mut crc = 0xffff_ffffu32;
        for b in b"abc" {
            crc = crc32_step(crc, *b);
        }
        assert_eq!(!crc, 0x3524_41c2, "the key schedule's step is CRC-32's");
        let mut data = b"MZ not really a program".to_vec();
        ZipCrypto::new(PASSWORD).encrypt(&mut data);
        assert_ne!(&data[..], b"MZ not really a program");
        ZipCrypto::new(PASSWORD).decrypt(&mut data);
        assert_eq!(&data[..], b"MZ not really a program");
    }

    #[tokio::test]
    async fn the_zip_is_as_long_as_announced() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).and_then(|d| d.and_hms_opt(1, 2, 4)).expect("a date");
        let entry = Entry { name: "sample.exe", crc32: 0x3524_41c2, size: 3, modified: at, seed: [7; 11] };
        let content = stream::iter([Ok::<_, ()>(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"c"))]).boxed();
        let zipped: Vec<Bytes> = wrap(&entry, content).expect("zip").map(|c| c.expect("chunk")).collect().await;
        let bytes: Vec<u8> = zipped.concat();
        assert_eq!(bytes.len() as u64, zipped_len(&entry));
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        let name_at = 30;
        assert_eq!(&bytes[name_at..name_at + 10], b"sample.exe");
        let mut data = bytes[name_at + 10..name_at + 10 + 15].to_vec();
        ZipCrypto::new(PASSWORD).decrypt(&mut data);
        assert_eq!(data[11], 0x35, "the check byte is the CRC's high byte");
        assert_eq!(&data[12..], b"abc");
    }
}
