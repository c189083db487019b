//! A tiny line-plot rasteriser and PNG encoder (indexed colour, stored deflate blocks), enough
//! for one deterministic plot per scenario without an image or plotting dependency.

/// Plot width in pixels.
pub const WIDTH: usize = 800;
/// Plot height in pixels.
pub const HEIGHT: usize = 360;
const MARGIN_L: usize = 40;
const MARGIN_R: usize = 16;
const MARGIN_T: usize = 16;
const MARGIN_B: usize = 32;

/// Palette: background, axes, grid, then series colours.
const PALETTE: [[u8; 3]; 7] = [
    [255, 255, 255],
    [0, 0, 0],
    [222, 222, 222],
    [31, 119, 180], // blue
    [214, 39, 40],  // red
    [44, 160, 44],  // green
    [255, 127, 14], // orange
];

/// Series colours, in the order of [`Plot::line`] calls.
pub const COLOURS: [&str; 3] = ["blue", "red", "green"];

/// 3×5 digit glyphs, one row per 3 bits.
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

/// A canvas with axes for `x_max` seconds and a y axis from 0 to 1 (series are normalised).
pub struct Plot {
    px: Vec<u8>,
    x_max: f64,
}

impl Plot {
    /// An empty plot over `[0, x_max]` seconds, grid every 10 s and every quarter of y.
    pub fn new(x_max: f64) -> Self {
        let mut p = Self {
            px: vec![0; WIDTH * HEIGHT],
            x_max: x_max.max(1.0),
        };
        for q in 0..=4 {
            let y = p.y(q as f64 / 4.0);
            p.hline(y, 2);
        }
        let mut s = 0;
        while s as f64 <= p.x_max {
            let x = p.x(s as f64);
            for y in MARGIN_T..HEIGHT - MARGIN_B {
                p.set(x, y, 2);
            }
            p.number(x, HEIGHT - MARGIN_B + 6, s);
            s += 10;
        }
        let y0 = p.y(0.0);
        p.hline(y0, 1);
        for y in MARGIN_T..=y0 {
            p.set(MARGIN_L, y, 1);
        }
        p.number(MARGIN_L - 12, MARGIN_T, 1);
        p.number(MARGIN_L - 12, y0 - 10, 0);
        p
    }

    fn x(&self, s: f64) -> usize {
        MARGIN_L
            + ((s / self.x_max).clamp(0.0, 1.0) * (WIDTH - MARGIN_L - MARGIN_R) as f64) as usize
    }

    fn y(&self, v: f64) -> usize {
        let h = (HEIGHT - MARGIN_T - MARGIN_B) as f64;
        HEIGHT - MARGIN_B - (v.clamp(0.0, 1.0) * h).round() as usize
    }

    fn set(&mut self, x: usize, y: usize, c: u8) {
        if x < WIDTH && y < HEIGHT {
            self.px[y * WIDTH + x] = c;
        }
    }

    fn hline(&mut self, y: usize, c: u8) {
        for x in MARGIN_L..WIDTH - MARGIN_R {
            self.set(x, y, c);
        }
    }

    /// A decimal number in 3×5 digits scaled ×2, left edge at `x`.
    fn number(&mut self, x: usize, y: usize, n: u64) {
        for (i, ch) in n.to_string().bytes().enumerate() {
            let glyph = DIGITS[(ch - b'0') as usize];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..3 {
                    if bits >> (2 - col) & 1 == 1 {
                        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                            self.set(x + i * 8 + col * 2 + dx, y + row * 2 + dy, 1);
                        }
                    }
                }
            }
        }
    }

    /// A vertical marker at `s` seconds (orange).
    pub fn marker(&mut self, s: f64) {
        let x = self.x(s);
        for y in (MARGIN_T..HEIGHT - MARGIN_B).step_by(2) {
            self.set(x, y, 6);
            self.set(x + 1, y, 6);
        }
    }

    /// A series sampled once a second, normalised to `[0, 1]` by the caller; `series` picks the
    /// colour (0 blue, 1 red, 2 green). Drawn 2 px thick.
    pub fn line(&mut self, series: usize, points: &[f64]) {
        let c = 3 + (series % 3) as u8;
        for (i, w) in points.windows(2).enumerate() {
            let (x0, y0) = (self.x(i as f64) as i64, self.y(w[0]) as i64);
            let (x1, y1) = (self.x(i as f64 + 1.0) as i64, self.y(w[1]) as i64);
            let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
            for k in 0..=steps {
                let x = x0 + (x1 - x0) * k / steps;
                let y = y0 + (y1 - y0) * k / steps;
                self.set(x as usize, y as usize, c);
                self.set(x as usize, (y - 1).max(0) as usize, c);
            }
        }
    }

    /// Encode as PNG.
    pub fn png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity((WIDTH + 1) * HEIGHT);
        for row in self.px.chunks(WIDTH) {
            raw.push(0); // filter: none
            raw.extend_from_slice(row);
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&(WIDTH as u32).to_be_bytes());
        ihdr.extend_from_slice(&(HEIGHT as u32).to_be_bytes());
        ihdr.extend_from_slice(&[8, 3, 0, 0, 0]); // 8-bit indexed colour
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"PLTE", &PALETTE.concat());
        chunk(&mut out, b"IDAT", &zlib_stored(&raw));
        chunk(&mut out, b"IEND", &[]);
        out
    }
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_is_well_formed() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        let mut p = Plot::new(60.0);
        p.line(0, &[0.0, 0.5, 1.0]);
        p.marker(40.0);
        let png = p.png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert!(png.ends_with(&[0xAE, 0x42, 0x60, 0x82]));
        assert!(png.len() > WIDTH * HEIGHT);
        assert_eq!(png, p.png());
    }
}
