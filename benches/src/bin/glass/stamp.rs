//! The source's wall-clock stamp, drawn into each picture before it is encoded; the player reads
//! it back from every frame it draws (`clients/web/player/src/stamp.ts`, the same layout).
//!
//! [`STAMP_BITS`] cells, most significant bit first, in two rows of [`CELLS_PER_ROW`] from the
//! picture's top-left corner, each cell `width / 32` pixels square (rounded down), white for 1
//! and black for 0. The bits: the Unix time in milliseconds (48 bits) when the picture was
//! made, then a check byte (the XOR of those six bytes).

/// Cells in a row.
pub const CELLS_PER_ROW: usize = 28;
/// Bits in a stamp: 48 of time, 8 of check.
pub const STAMP_BITS: usize = 56;

/// The side of a cell, in pixels, for a picture `width` pixels wide.
pub fn cell_size(width: usize) -> usize {
    width / 32
}

/// The stamp's bytes for Unix time `ms`: six of time (big-endian) and the check byte.
pub fn stamp_bytes(ms: u64) -> [u8; 7] {
    let t = ms.to_be_bytes();
    let mut out = [0u8; 7];
    out[..6].copy_from_slice(&t[2..]);
    out[6] = out[..6].iter().fold(0, |a, b| a ^ b);
    out
}

/// Draw `ms` into a YUV 4:2:0 picture (`y` is `width` × `height` luma, `u` and `v` its
/// half-size chroma planes): luma 235 for a 1 and 16 for a 0, chroma neutral under the cells.
pub fn draw(y: &mut [u8], u: &mut [u8], v: &mut [u8], width: usize, ms: u64) {
    let cell = cell_size(width);
    let bytes = stamp_bytes(ms);
    for i in 0..STAMP_BITS {
        let on = bytes[i / 8] & (0x80 >> (i % 8)) != 0;
        let (x0, y0) = ((i % CELLS_PER_ROW) * cell, (i / CELLS_PER_ROW) * cell);
        for row in y0..y0 + cell {
            let start = row * width + x0;
            y[start..start + cell].fill(if on { 235 } else { 16 });
        }
    }
    let chroma_width = width / 2;
    for row in 0..cell {
        let start = row * chroma_width;
        let end = start + CELLS_PER_ROW * cell / 2;
        u[start..end].fill(128);
        v[start..end].fill(128);
    }
}

/// The stamp in a luma plane, as the player reads it (the test's check of [`draw`]) (the mean of a 3×3 patch at each cell's
/// centre against mid-grey), or `None` when its check byte does not match.
#[cfg(test)]
fn read(y: &[u8], width: usize) -> Option<u64> {
    let cell = cell_size(width);
    let mut bytes = [0u8; 7];
    for i in 0..STAMP_BITS {
        let (cx, cy) = (
            (i % CELLS_PER_ROW) * cell + cell / 2,
            (i / CELLS_PER_ROW) * cell + cell / 2,
        );
        let mut sum = 0u32;
        for dy in 0..3 {
            for dx in 0..3 {
                sum += u32::from(*y.get((cy + dy - 1) * width + cx + dx - 1)?);
            }
        }
        if sum / 9 > 128 {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    let check = bytes[..6].iter().fold(0, |a, b| a ^ b);
    (check == bytes[6]).then(|| bytes[..6].iter().fold(0u64, |a, &b| a << 8 | u64::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_drawn_reads_back_and_a_damaged_one_does_not() {
        let (w, h) = (640, 360);
        let mut y = vec![100u8; w * h];
        let (mut u, mut v) = (vec![60u8; w * h / 4], vec![200u8; w * h / 4]);
        let ms = 1_796_000_000_123;
        draw(&mut y, &mut u, &mut v, w, ms);
        assert_eq!(read(&y, w), Some(ms));
        assert_eq!(u[0], 128);
        // Flip the first cell (the top bit of the time).
        let cell = cell_size(w);
        for row in 0..cell {
            let c = &mut y[row * w..row * w + cell];
            let flipped = if c[0] > 128 { 16 } else { 235 };
            c.fill(flipped);
        }
        assert_eq!(read(&y, w), None);
    }
}
