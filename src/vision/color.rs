//! Colour names for RGB triples.
//!
//! A deliberately small vocabulary a language model can rely on: black, white, gray,
//! red, orange, yellow, green, cyan, blue, purple, pink, brown. See [`color_name`].

/// Every word [`color_name`] can return.
pub const VOCABULARY: [&str; 12] = [
    "black", "white", "gray", "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink",
    "brown",
];

/// Names an sRGB colour with one word of [`VOCABULARY`].
///
/// With `max`/`min` the largest/smallest channel, value V = max, chroma C = max − min,
/// saturation S = C / max, lightness L = (max + min) / 2 and hue H in degrees (the HSV
/// hue), the rules apply in order:
///
/// 1. V < 50 → **black**;
/// 2. achromatic when C < 24 or S < 0.15: L ≥ 200 → **white**, L < 60 → **black**,
///    otherwise **gray**;
/// 3. by hue: H < 15 or H ≥ 345 red, < 40 orange, < 70 yellow, < 165 green,
///    < 195 cyan, < 255 blue, < 290 purple, < 345 pink — then
///    * a red with L ≥ 170 is **pink** (pastel red),
///    * a pink with L < 100 is **purple** (dark magenta),
///    * a hue in 10..45 with V < 170, or in 45..70 with V < 110, is **brown**
///      (dark orange and dark yellow).
pub fn color_name(rgb: [u8; 3]) -> &'static str {
    let [r, g, b] = rgb.map(i32::from);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let chroma = max - min;
    if max < 50 {
        return "black";
    }
    let lightness = f64::from(max + min) / 2.0;
    let saturation = f64::from(chroma) / f64::from(max);
    if chroma < 24 || saturation < 0.15 {
        return if lightness >= 200.0 {
            "white"
        } else if lightness < 60.0 {
            "black"
        } else {
            "gray"
        };
    }
    let c = f64::from(chroma);
    let hue = if max == r {
        60.0 * (f64::from(g - b) / c).rem_euclid(6.0)
    } else if max == g {
        60.0 * (f64::from(b - r) / c + 2.0)
    } else {
        60.0 * (f64::from(r - g) / c + 4.0)
    };
    if ((10.0..45.0).contains(&hue) && max < 170) || ((45.0..70.0).contains(&hue) && max < 110) {
        return "brown";
    }
    match hue {
        h if !(15.0..345.0).contains(&h) => {
            if lightness >= 170.0 {
                "pink"
            } else {
                "red"
            }
        }
        h if h < 40.0 => "orange",
        h if h < 70.0 => "yellow",
        h if h < 165.0 => "green",
        h if h < 195.0 => "cyan",
        h if h < 255.0 => "blue",
        h if h < 290.0 => "purple",
        _ => {
            if lightness < 100.0 {
                "purple"
            } else {
                "pink"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_cases() {
        let cases: [([u8; 3], &str); 26] = [
            ([0, 0, 0], "black"),
            ([20, 25, 30], "black"),
            ([255, 255, 255], "white"),
            ([240, 240, 235], "white"),
            ([128, 128, 128], "gray"),
            ([90, 95, 100], "gray"),
            ([255, 0, 0], "red"),
            ([200, 30, 30], "red"),
            ([255, 140, 0], "orange"),
            ([255, 165, 0], "orange"),
            ([255, 255, 0], "yellow"),
            ([240, 220, 30], "yellow"),
            ([0, 200, 0], "green"),
            ([34, 139, 34], "green"),
            ([0, 255, 255], "cyan"),
            ([0, 200, 200], "cyan"),
            ([0, 0, 255], "blue"),
            ([30, 80, 220], "blue"),
            ([128, 0, 128], "purple"),
            ([130, 60, 200], "purple"),
            ([255, 105, 180], "pink"),
            ([255, 192, 203], "pink"),
            ([139, 69, 19], "brown"),
            ([120, 80, 40], "brown"),
            ([255, 0, 255], "pink"),
            ([60, 60, 60], "gray"),
        ];
        for (rgb, name) in cases {
            assert_eq!(color_name(rgb), name, "{rgb:?}");
        }
    }

    #[test]
    fn every_colour_gets_a_vocabulary_word() {
        for r in (0..=255).step_by(5) {
            for g in (0..=255).step_by(5) {
                for b in (0..=255).step_by(5) {
                    let name = color_name([r as u8, g as u8, b as u8]);
                    assert!(VOCABULARY.contains(&name));
                }
            }
        }
    }
}
