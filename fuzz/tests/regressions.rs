//! Runs every seed and every crasher a fuzzing campaign found through the
//! same check the fuzzer runs (`fuzz/README.md`): a decoder that panics, or
//! accepts bytes it encodes differently, fails here.

use std::path::Path;

#[test]
fn seeds_and_crashers_pass_every_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, check) in kith_fuzz::CHECKS {
        let mut seeds = 0;
        for dir in ["seeds", "regressions"] {
            let Ok(files) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for file in files {
                let path = file.expect("directory entry").path();
                let bytes = std::fs::read(&path).expect("readable input");
                check(&bytes);
                if dir == "seeds" {
                    seeds += 1;
                }
            }
        }
        assert!(
            seeds > 0,
            "no seeds for the {name} check: run the seeds example"
        );
    }
}
