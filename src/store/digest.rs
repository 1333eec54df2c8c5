//! What is computed of content while it streams in: the hashes analysts
//! match against threat intelligence, a CRC-32 (the malware zip needs it
//! before the bytes), the size, and the first bytes (to sniff the type).

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// How much of the start of the content is kept for sniffing its type.
pub const HEAD_BYTES: usize = 8 * 1024;

/// The content's fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// Lower-case hex.
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
    pub crc32: u32,
    pub size: u64,
    /// The first [`HEAD_BYTES`] bytes (fewer for a smaller file).
    pub head: Vec<u8>,
}

#[derive(Default)]
pub(super) struct Digester {
    sha256: Sha256,
    sha1: Sha1,
    md5: Md5,
    crc32: crc32fast::Hasher,
    size: u64,
    head: Vec<u8>,
}

impl Digester {
    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.sha1.update(bytes);
        self.md5.update(bytes);
        self.crc32.update(bytes);
        self.size += bytes.len() as u64;
        if self.head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
    }

    pub(super) fn size(&self) -> u64 {
        self.size
    }

    pub(super) fn finish(self) -> Digests {
        Digests {
            sha256: hex(&self.sha256.finalize()),
            sha1: hex(&self.sha1.finalize()),
            md5: hex(&self.md5.finalize()),
            crc32: self.crc32.finalize(),
            size: self.size,
            head: self.head,
        }
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_whatever_the_chunking() {
        let mut whole = Digester::default();
        whole.update(b"abc");
        let mut split = Digester::default();
        split.update(b"a");
        split.update(b"bc");
        let (whole, split) = (whole.finish(), split.finish());
        assert_eq!(whole, split);
        assert_eq!(whole.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(whole.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(whole.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(whole.crc32, 0x352441c2);
        assert_eq!(whole.size, 3);
    }
}
