//! A version 2 bundle's files section, after its entries (PROTOCOL.md §9):
//! `varint(n) { hash(32) varint(size) bytes(size) }*`, covered by the
//! checksum like everything before it.

use std::io::Read as _;

use kith_protocol::varint;

use super::{Frame, Reader, VERSION_BLOBS, Writer};

impl<W: std::io::Write> Writer<W> {
    /// Writes the files section (a version 2 bundle, after its entries):
    /// each blob's hash, size and bytes, read from `open`.
    pub fn blobs<R: std::io::Read>(
        &mut self,
        blobs: &[(kith_protocol::blob::BlobHash, u64)],
        mut open: impl FnMut(&kith_protocol::blob::BlobHash) -> std::io::Result<R>,
    ) -> std::io::Result<()> {
        assert_eq!(
            self.version, VERSION_BLOBS,
            "a version 1 bundle has no files"
        );
        assert!(!self.blobs_done, "one files section");
        self.blobs_done = true;
        varint::encode(blobs.len() as u64, &mut self.frame);
        self.emit()?;
        for (hash, size) in blobs {
            self.frame.extend_from_slice(&hash.0);
            varint::encode(*size, &mut self.frame);
            self.emit()?;
            let mut input = open(hash)?.take(*size);
            let mut buf = vec![0u8; 256 * 1024];
            let mut copied = 0u64;
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                self.hasher.update(&buf[..n]);
                self.out.write_all(&buf[..n])?;
                copied += n as u64;
            }
            if copied != *size {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("blob {hash} is shorter than its {size} bytes"),
                ));
            }
        }
        Ok(())
    }
}

impl<R: std::io::Read> Reader<R> {
    /// Whether the bundle carries files (version 2).
    pub fn has_blobs(&self) -> bool {
        self.version == VERSION_BLOBS
    }

    /// The next file of the files section, after every entry was taken:
    /// its hash and size, with its bytes copied to `out` (at most `max`;
    /// a larger file is skipped and reported). `None` at the end, or if
    /// the file is damaged (reported by [`Reader::finish`]). The bytes are
    /// the bundle's word only: the caller checks them against the hash.
    pub fn next_blob(
        &mut self,
        out: &mut dyn std::io::Write,
        max: u64,
    ) -> Option<(kith_protocol::blob::BlobHash, u64)> {
        for _ in self.by_ref() {}
        if self.lost || !self.has_blobs() {
            return None;
        }
        let left = match self.blobs_left {
            Some(left) => left,
            None => match self.src.varint() {
                Ok(n) => n,
                Err(why) => {
                    self.lose_blobs(why);
                    return None;
                }
            },
        };
        if left == 0 {
            self.blobs_left = Some(0);
            return None;
        }
        self.blobs_left = Some(left - 1);
        let mut hash = [0u8; 32];
        if let Err(why) = self.src.fill(&mut hash) {
            self.lose_blobs(why);
            return None;
        }
        let hash = kith_protocol::blob::BlobHash(hash);
        let size = match self.src.varint() {
            Ok(size) => size,
            Err(why) => {
                self.lose_blobs(why);
                return None;
            }
        };
        if size > max {
            if let Err(why) = self.src.skip(size) {
                self.lose_blobs(why);
                return None;
            }
            self.problems.push(format!(
                "file {hash} is {size} bytes, more than this node takes ({max}): skipped"
            ));
            return self.next_blob(out, max);
        }
        let mut buf = vec![0u8; 256 * 1024];
        let mut left_bytes = size;
        while left_bytes > 0 {
            let n = left_bytes.min(buf.len() as u64) as usize;
            if let Err(why) = self.src.fill(&mut buf[..n]) {
                self.lose_blobs(why);
                return None;
            }
            if let Err(e) = out.write_all(&buf[..n]) {
                self.problems.push(format!("cannot write file {hash}: {e}"));
                // The rest of it is read past, so the checksum still holds.
                if let Err(why) = self.src.skip(left_bytes - n as u64) {
                    self.lose_blobs(why);
                }
                return None;
            }
            left_bytes -= n as u64;
        }
        Some((hash, size))
    }

    fn lose_blobs(&mut self, why: Frame) {
        self.lost = true;
        self.problems.push(match why {
            Frame::Truncated => "truncated inside its files".to_string(),
            Frame::Prefix(e) => format!("a file's length is malformed ({e})"),
            Frame::Io(e) => format!("cannot read the file ({e})"),
        });
    }
}
