//! Arbitrary bytes from a sync peer: websocket frames through the connection gate, or an
//! automerge sync payload straight into the merge of a task document.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sync_engine::harness::feed(data);
});
