//! How many uploads a process receives at once, in all and per caller: an
//! upload holds a few parts of its file in memory while they go to the
//! store, so the number in flight bounds the memory uploads take, and one
//! caller cannot take every slot from the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Uploads one process receives at once.
pub const MAX_UPLOADS: usize = 32;
/// Uploads one caller (tenant and user) sends at once.
pub const MAX_UPLOADS_PER_CALLER: usize = 4;

type Caller = (String, String);

/// The uploads in flight, by caller. Bounded: an entry lives while its
/// caller has an upload in flight, so there are at most [`MAX_UPLOADS`].
#[derive(Default)]
pub struct UploadSlots(Arc<Mutex<HashMap<Caller, usize>>>);

/// Why no slot was given.
pub enum Full {
    Process,
    Caller,
}

impl UploadSlots {
    /// A slot for one upload of `caller`, released when dropped.
    pub fn take(&self, tenant: &str, user: &str) -> Result<Slot, Full> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if held.values().sum::<usize>() >= MAX_UPLOADS {
            return Err(Full::Process);
        }
        let caller = (tenant.to_owned(), user.to_owned());
        let mine = held.entry(caller.clone()).or_default();
        if *mine >= MAX_UPLOADS_PER_CALLER {
            return Err(Full::Caller);
        }
        *mine += 1;
        Ok(Slot { slots: self.0.clone(), caller })
    }
}

/// One upload's place; gives it back when dropped.
pub struct Slot {
    slots: Arc<Mutex<HashMap<Caller, usize>>>,
    caller: Caller,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_its_share_and_gives_it_back() {
        let slots = UploadSlots::default();
        let mine: Vec<Slot> = (0..MAX_UPLOADS_PER_CALLER).map_while(|_| slots.take("t", "alice").ok()).collect();
        assert_eq!(mine.len(), MAX_UPLOADS_PER_CALLER);
        assert!(matches!(slots.take("t", "alice"), Err(Full::Caller)));
        assert!(slots.take("t", "bob").is_ok(), "another caller still gets one");
        drop(mine);
        assert!(slots.take("t", "alice").is_ok());
        assert!(slots.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty(), "no entry outlives its uploads");
    }
}
