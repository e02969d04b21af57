//! The bitmap font every picture is labelled with.
//!
//! There is no font file to rely on (the crate builds without `imageproc`'s text feature and
//! ships no assets), so labels use this tiny font of our own, drawn by
//! `render::canvas` at whole-pixel scales so it stays crisp.

/// Glyph width in font pixels; each row of a glyph uses its low `GLYPH_W` bits, most
/// significant bit leftmost.
pub(crate) const GLYPH_W: u32 = 5;
/// Glyph height in font pixels: a 7-row body (capitals, digits, ascenders; x-height is
/// rows 2–6) plus two rows for the tails of g, j, p, q and y, which otherwise must be drawn
/// raised and then read as 9, P and the like.
pub(crate) const GLYPH_H: usize = 9;
/// Font pixels between glyphs.
pub(crate) const GLYPH_GAP: u32 = 1;

/// What an unknown character draws as: a small hollow box, visibly "something was here".
const UNKNOWN_GLYPH: [u8; GLYPH_H] = [
    0b00000, //
    0b00000, //
    0b01110, //
    0b01010, //
    0b01010, //
    0b01010, //
    0b01110, //
    0b00000, //
    0b00000, //
];

/// Our own 5×7 font (with descender rows, see [`GLYPH_H`]): digits, lowercase letters, `:`,
/// `-` and space — exactly what region labels are made of.
#[rustfmt::skip]
const GLYPHS: [(char, [u8; GLYPH_H]); 39] = [
    ('0', [
        0b01110,
        0b10001,
        0b10011,
        0b10101,
        0b11001,
        0b10001,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('1', [
        0b00100,
        0b01100,
        0b00100,
        0b00100,
        0b00100,
        0b00100,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('2', [
        0b01110,
        0b10001,
        0b00001,
        0b00010,
        0b00100,
        0b01000,
        0b11111,
        0b00000,
        0b00000,
    ]),
    ('3', [
        0b01110,
        0b10001,
        0b00001,
        0b00110,
        0b00001,
        0b10001,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('4', [
        0b00010,
        0b00110,
        0b01010,
        0b10010,
        0b11111,
        0b00010,
        0b00010,
        0b00000,
        0b00000,
    ]),
    ('5', [
        0b11111,
        0b10000,
        0b11110,
        0b00001,
        0b00001,
        0b10001,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('6', [
        0b00110,
        0b01000,
        0b10000,
        0b11110,
        0b10001,
        0b10001,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('7', [
        0b11111,
        0b00001,
        0b00010,
        0b00100,
        0b01000,
        0b01000,
        0b01000,
        0b00000,
        0b00000,
    ]),
    ('8', [
        0b01110,
        0b10001,
        0b10001,
        0b01110,
        0b10001,
        0b10001,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('9', [
        0b01110,
        0b10001,
        0b10001,
        0b01111,
        0b00001,
        0b00010,
        0b01100,
        0b00000,
        0b00000,
    ]),
    ('a', [
        0b00000,
        0b00000,
        0b01110,
        0b00001,
        0b01111,
        0b10001,
        0b01111,
        0b00000,
        0b00000,
    ]),
    ('b', [
        0b10000,
        0b10000,
        0b11110,
        0b10001,
        0b10001,
        0b10001,
        0b11110,
        0b00000,
        0b00000,
    ]),
    ('c', [
        0b00000,
        0b00000,
        0b01110,
        0b10000,
        0b10000,
        0b10001,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('d', [
        0b00001,
        0b00001,
        0b01111,
        0b10001,
        0b10001,
        0b10001,
        0b01111,
        0b00000,
        0b00000,
    ]),
    ('e', [
        0b00000,
        0b00000,
        0b01110,
        0b10001,
        0b11111,
        0b10000,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('f', [
        0b00110,
        0b01001,
        0b01000,
        0b11100,
        0b01000,
        0b01000,
        0b01000,
        0b00000,
        0b00000,
    ]),
    ('g', [
        0b00000,
        0b00000,
        0b01111,
        0b10001,
        0b10001,
        0b10001,
        0b01111,
        0b00001,
        0b01110,
    ]),
    ('h', [
        0b10000,
        0b10000,
        0b10110,
        0b11001,
        0b10001,
        0b10001,
        0b10001,
        0b00000,
        0b00000,
    ]),
    ('i', [
        0b00100,
        0b00000,
        0b01100,
        0b00100,
        0b00100,
        0b00100,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('j', [
        0b00010,
        0b00000,
        0b00110,
        0b00010,
        0b00010,
        0b00010,
        0b00010,
        0b10010,
        0b01100,
    ]),
    ('k', [
        0b10000,
        0b10000,
        0b10010,
        0b10100,
        0b11000,
        0b10100,
        0b10010,
        0b00000,
        0b00000,
    ]),
    ('l', [
        0b01100,
        0b00100,
        0b00100,
        0b00100,
        0b00100,
        0b00100,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('m', [
        0b00000,
        0b00000,
        0b11010,
        0b10101,
        0b10101,
        0b10101,
        0b10001,
        0b00000,
        0b00000,
    ]),
    ('n', [
        0b00000,
        0b00000,
        0b10110,
        0b11001,
        0b10001,
        0b10001,
        0b10001,
        0b00000,
        0b00000,
    ]),
    ('o', [
        0b00000,
        0b00000,
        0b01110,
        0b10001,
        0b10001,
        0b10001,
        0b01110,
        0b00000,
        0b00000,
    ]),
    ('p', [
        0b00000,
        0b00000,
        0b11110,
        0b10001,
        0b10001,
        0b10001,
        0b11110,
        0b10000,
        0b10000,
    ]),
    ('q', [
        0b00000,
        0b00000,
        0b01111,
        0b10001,
        0b10001,
        0b10001,
        0b01111,
        0b00001,
        0b00001,
    ]),
    ('r', [
        0b00000,
        0b00000,
        0b10110,
        0b11001,
        0b10000,
        0b10000,
        0b10000,
        0b00000,
        0b00000,
    ]),
    ('s', [
        0b00000,
        0b00000,
        0b01111,
        0b10000,
        0b01110,
        0b00001,
        0b11110,
        0b00000,
        0b00000,
    ]),
    ('t', [
        0b01000,
        0b01000,
        0b11100,
        0b01000,
        0b01000,
        0b01001,
        0b00110,
        0b00000,
        0b00000,
    ]),
    ('u', [
        0b00000,
        0b00000,
        0b10001,
        0b10001,
        0b10001,
        0b10011,
        0b01101,
        0b00000,
        0b00000,
    ]),
    ('v', [
        0b00000,
        0b00000,
        0b10001,
        0b10001,
        0b10001,
        0b01010,
        0b00100,
        0b00000,
        0b00000,
    ]),
    ('w', [
        0b00000,
        0b00000,
        0b10001,
        0b10001,
        0b10101,
        0b10101,
        0b01010,
        0b00000,
        0b00000,
    ]),
    ('x', [
        0b00000,
        0b00000,
        0b10001,
        0b01010,
        0b00100,
        0b01010,
        0b10001,
        0b00000,
        0b00000,
    ]),
    ('y', [
        0b00000,
        0b00000,
        0b10001,
        0b10001,
        0b10001,
        0b10001,
        0b01111,
        0b00001,
        0b01110,
    ]),
    ('z', [
        0b00000,
        0b00000,
        0b11111,
        0b00010,
        0b00100,
        0b01000,
        0b11111,
        0b00000,
        0b00000,
    ]),
    (':', [
        0b00000,
        0b01100,
        0b01100,
        0b00000,
        0b01100,
        0b01100,
        0b00000,
        0b00000,
        0b00000,
    ]),
    ('-', [
        0b00000,
        0b00000,
        0b00000,
        0b01110,
        0b00000,
        0b00000,
        0b00000,
        0b00000,
        0b00000,
    ]),
    (' ', [0; GLYPH_H]),
];

/// The bitmap for `c`; capitals borrow the lowercase shapes since the font has no others.
pub(crate) fn glyph(c: char) -> &'static [u8; GLYPH_H] {
    let c = c.to_ascii_lowercase();
    GLYPHS
        .iter()
        .find(|(g, _)| *g == c)
        .map_or(&UNKNOWN_GLYPH, |(_, rows)| rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_table_covers_the_label_alphabet_with_5_bit_rows() {
        let expected: Vec<char> = ('0'..='9')
            .chain('a'..='z')
            .chain([':', '-', ' '])
            .collect();
        let have: Vec<char> = GLYPHS.iter().map(|(c, _)| *c).collect();
        assert_eq!(have, expected);
        for (c, rows) in GLYPHS.iter().copied().chain([('?', UNKNOWN_GLYPH)]) {
            for row in rows {
                assert!(row < 1 << GLYPH_W, "{c:?} row {row:#b} wider than 5 bits");
            }
            if c != ' ' {
                assert!(rows.iter().any(|r| *r != 0), "{c:?} is blank");
            }
        }
        // Glyphs are distinct, so every character is readable as itself.
        for (i, (a, ga)) in GLYPHS.iter().enumerate() {
            for (b, gb) in &GLYPHS[i + 1..] {
                assert_ne!(ga, gb, "{a:?} and {b:?} look the same");
            }
        }
        assert_eq!(glyph('A'), glyph('a'));
        assert_eq!(glyph('#'), &UNKNOWN_GLYPH);
        assert_eq!(glyph('é'), &UNKNOWN_GLYPH);
    }
}
