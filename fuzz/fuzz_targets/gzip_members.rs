//! The gzip member decoder (`wit harvest` of .gz WARC/WAT files): any byte stream decodes to the
//! bytes flate2's MultiGzDecoder gives where both decode it (libdeflate may accept a header flate2
//! rejects, never other data: both check each member's CRC), or is an error naming a member's
//! offset — never a panic. Small inputs rarely cross the decoder's 1 MiB window; the unit tests in
//! pipeline/harvest/src/gzip.rs shrink it.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use wit_harvest::gzip::GzipMembers;

fuzz_target!(|data: &[u8]| {
    let mut ours = Vec::new();
    let result = GzipMembers::new(data).and_then(|mut members| members.read_to_end(&mut ours));
    let mut theirs = Vec::new();
    let reference = flate2::read::MultiGzDecoder::new(data).read_to_end(&mut theirs);
    match result {
        Ok(_) => assert!(reference.is_err() || ours == theirs, "other bytes than flate2's"),
        Err(e) => assert!(e.to_string().contains("gzip member starting at compressed byte"), "{e}"),
    }
});
