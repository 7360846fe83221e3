//! Canonical Huffman codes and the bit reader they decode from: the part
//! of inflate where the time goes for tiny streams.

use super::{FIXED_LCODES, InflateError, Result};

const MAX_BITS: usize = 15;
/// Longest code decoded by one table lookup; longer ones go bit by bit.
const TABLE_BITS: u32 = 10;

/// A canonical Huffman code: how many codes of each length, and the
/// symbols ordered by code.
#[derive(Clone)]
pub(super) struct Huffman {
    count: [u16; MAX_BITS + 1],
    symbol: [u16; FIXED_LCODES],
    /// Codes up to `table_bits` long, indexed by the next `table_bits`
    /// input bits: `symbol << 4 | length`, 0 for a longer (or no) code.
    table: [u16; 1 << TABLE_BITS],
    table_bits: u32,
}

impl Huffman {
    pub(super) const EMPTY: Huffman = Huffman {
        count: [0; MAX_BITS + 1],
        symbol: [0; FIXED_LCODES],
        table: [0; 1 << TABLE_BITS],
        table_bits: 0,
    };

    /// Builds the code for `n` symbols whose non-zero lengths are
    /// `lengths[used[..]]` (`used` ascending); returns how many codes are
    /// left unused (0: complete), or an error if the lengths over-subscribe.
    /// Only used symbols are visited: a literal/length code of 286 symbols
    /// typically uses 60, and visiting the zeros was most of the cost.
    fn build(&mut self, n: usize, lengths: &[u8], used: &[u16]) -> Result<i32> {
        self.count = [0; MAX_BITS + 1];
        for &sym in used {
            self.count[lengths[sym as usize] as usize] += 1;
        }
        self.count[0] = (n - used.len()) as u16;
        if used.is_empty() {
            return Ok(0);
        }
        let mut left: i32 = 1;
        for len in 1..=MAX_BITS {
            left = (left << 1) - i32::from(self.count[len]);
            if left < 0 {
                return Err(InflateError("over-subscribed Huffman code"));
            }
        }
        let mut offsets = [0u16; MAX_BITS + 1];
        for len in 1..MAX_BITS {
            offsets[len + 1] = offsets[len] + self.count[len];
        }
        for &sym in used {
            let l = lengths[sym as usize] as usize;
            self.symbol[offsets[l] as usize] = sym;
            offsets[l] += 1;
        }
        self.fill_table();
        Ok(left)
    }

    /// The lookup table: only as many bits as the longest code needs (a
    /// tiny stream's codes are short, so its table is small to fill).
    fn fill_table(&mut self) {
        let longest = (1..=MAX_BITS)
            .rev()
            .find(|&l| self.count[l] != 0)
            .unwrap_or(0);
        self.table_bits = (longest as u32).min(TABLE_BITS);
        let size = 1usize << self.table_bits;
        self.table[..size].fill(0);
        // Canonical codes: consecutive within a length, in `symbol` order.
        let (mut code, mut index) = (0u32, 0usize);
        for len in 1..=self.table_bits as usize {
            for _ in 0..self.count[len] {
                // The stream sends a code's first bit first, into the low bit.
                let reversed = (code.reverse_bits() >> (32 - len)) as usize;
                let entry = self.symbol[index] << 4 | len as u16;
                for slot in (reversed..size).step_by(1 << len) {
                    self.table[slot] = entry;
                }
                code += 1;
                index += 1;
            }
            code <<= 1;
        }
    }

    /// `build`, accepting an incomplete code only when it is a single
    /// one-bit code (RFC 1951 allows that for one used symbol).
    pub(super) fn build_usable(&mut self, n: usize, lengths: &[u8], used: &[u16]) -> Result<()> {
        let left = self.build(n, lengths, used)?;
        if left > 0 && used.len() != 1 {
            return Err(InflateError("incomplete Huffman code"));
        }
        Ok(())
    }

    /// `build` for lengths given in full.
    pub(super) fn build_all<const N: usize>(&mut self, lengths: &[u8; N]) -> Result<i32> {
        let mut used = [0u16; N];
        let mut k = 0;
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                used[k] = sym as u16;
                k += 1;
            }
        }
        self.build(lengths.len(), lengths, &used[..k])
    }
}

pub(super) struct Bits<'a> {
    pub(super) input: &'a [u8],
    /// Next byte not yet in `buf`.
    pub(super) pos: usize,
    pub(super) buf: u64,
    pub(super) count: u32,
}

impl Bits<'_> {
    /// Tops the bit buffer up with whole bytes, as far as input lasts.
    #[inline]
    fn refill(&mut self) {
        while self.count <= 56 {
            let Some(&byte) = self.input.get(self.pos) else {
                return;
            };
            self.buf |= u64::from(byte) << self.count;
            self.pos += 1;
            self.count += 8;
        }
    }

    /// The next `need` (<= 16) bits, least significant first.
    #[inline]
    pub(super) fn take(&mut self, need: u32) -> Result<u32> {
        if self.count < need {
            self.refill();
            if self.count < need {
                return Err(InflateError("stream ends early"));
            }
        }
        let v = (self.buf & ((1u64 << need) - 1)) as u32;
        self.buf >>= need;
        self.count -= need;
        Ok(v)
    }

    /// Skips to the next byte boundary and gives buffered bytes back, so
    /// `pos` is where byte-aligned data (a stored block, the trailer) starts.
    pub(super) fn align(&mut self) {
        self.pos -= (self.count / 8) as usize;
        self.buf = 0;
        self.count = 0;
    }

    /// One symbol: by table when the code is short, else bit by bit.
    /// Inlined so the bit buffer stays in registers across a block.
    #[inline]
    pub(super) fn decode(&mut self, h: &Huffman) -> Result<usize> {
        if self.count < h.table_bits {
            self.refill();
        }
        if self.count >= h.table_bits {
            let entry = h.table[(self.buf & ((1u64 << h.table_bits) - 1)) as usize];
            if entry != 0 {
                let len = u32::from(entry & 15);
                self.buf >>= len;
                self.count -= len;
                return Ok(usize::from(entry >> 4));
            }
        }
        self.decode_slow(h)
    }

    /// `puff`'s canonical decode: one bit at a time, no table.
    #[cold]
    fn decode_slow(&mut self, h: &Huffman) -> Result<usize> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..=MAX_BITS {
            code |= self.take(1)? as i32;
            let count = i32::from(h.count[len]);
            if code - count < first {
                return Ok(h.symbol[(index + code - first) as usize] as usize);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(InflateError("invalid Huffman code"))
    }
}
