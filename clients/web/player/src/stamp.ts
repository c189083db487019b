// A source's wall-clock stamp drawn into its pictures, read back from each frame the player
// draws: the glass-to-glass figure of `tern`'s `glass` bench (`benches/src/bin/glass/`), with
// the source's and the page's clocks the same machine's. Asked for with `?stamp=1`.
//
// The layout (the bench's `stamp.rs` draws it): STAMP_BITS cells, most significant bit first,
// in two rows of CELLS_PER_ROW from the picture's top-left corner, each cell `width / 32` pixels
// square (rounded down), white for 1 and black for 0. The bits: the Unix time in milliseconds
// (48 bits) when the source made the picture, then a check byte (the XOR of those six bytes).

export const CELLS_PER_ROW = 28;
export const STAMP_BITS = 56;

/** The side of a cell, in pixels, for a picture `width` pixels wide. */
export function cellSize(width: number): number {
  return Math.floor(width / 32);
}

/**
 * The stamp in the picture just drawn on `ctx` (`width` × `height`), Unix ms, or null when the
 * picture carries none (its check byte does not match).
 */
export function readStamp(ctx: CanvasRenderingContext2D, width: number, height: number): number | null {
  const cell = cellSize(width);
  if (cell < 4 || 2 * cell > height) return null;
  const img = ctx.getImageData(0, 0, CELLS_PER_ROW * cell, 2 * cell);
  const bytes = new Array<number>(STAMP_BITS / 8).fill(0);
  for (let i = 0; i < STAMP_BITS; i++) {
    const cx = (i % CELLS_PER_ROW) * cell + (cell >> 1);
    const cy = Math.floor(i / CELLS_PER_ROW) * cell + (cell >> 1);
    // The mean of a 3x3 patch at the cell's centre: compression blurs the edges.
    let sum = 0;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const at = ((cy + dy) * img.width + (cx + dx)) * 4;
        sum += img.data[at] + img.data[at + 1] + img.data[at + 2];
      }
    }
    if (sum / 27 > 128) bytes[i >> 3] |= 0x80 >> (i & 7);
  }
  const check = bytes.slice(0, 6).reduce((a, b) => a ^ b, 0);
  if (check !== bytes[6]) return null;
  // 48 bits: above 2^32, so no bitwise arithmetic.
  return bytes.slice(0, 6).reduce((a, b) => a * 256 + b, 0);
}
