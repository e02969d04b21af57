//! The analysis window every spectral view of the audio uses, built in one place so the
//! features, the voice detector's front end and the spectrogram pictures agree on it.

/// The periodic Hann window of `len` samples, `w[n] = ½ − ½·cos(2πn/len)` (scipy's
/// `get_window('hann', len)`, librosa's default), computed in f64; callers working in f32
/// round each value once.
pub(crate) fn periodic_hann(len: usize) -> impl ExactSizeIterator<Item = f64> {
    let n = len as f64;
    (0..len).map(move |i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n).cos())
}

#[cfg(test)]
mod tests {
    use super::periodic_hann;

    #[test]
    fn periodic_hann_is_zero_at_the_start_and_symmetric_about_the_middle() {
        for len in [1usize, 2, 7, 400, 512] {
            let w: Vec<f64> = periodic_hann(len).collect();
            assert_eq!(w.len(), len);
            assert_eq!(w[0], 0.0);
            for k in 1..len {
                assert!((w[k] - w[len - k]).abs() < 1e-15, "len {len}, k {k}");
                assert!((0.0..=1.0).contains(&w[k]));
            }
            if len % 2 == 0 {
                assert!((w[len / 2] - 1.0).abs() < 1e-15);
            }
        }
        assert_eq!(periodic_hann(0).count(), 0);
    }

    #[test]
    fn periodic_hann_sums_to_half_its_length() {
        // The periodic window's mean is exactly ½ for len ≥ 2: the cosines cancel.
        for len in [2usize, 16, 400, 512] {
            let sum: f64 = periodic_hann(len).sum();
            assert!((sum - len as f64 / 2.0).abs() < 1e-9, "len {len}: {sum}");
        }
    }
}
