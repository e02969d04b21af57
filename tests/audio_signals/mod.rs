//! Deterministic synthetic signals with exactly known content, shared by the audio tests.
#![allow(dead_code)]

pub const SR: usize = 16_000;

/// A small deterministic generator (xorshift64*), so tests need no RNG crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

pub fn silence(seconds: f64) -> Vec<f32> {
    vec![0.0; (seconds * SR as f64) as usize]
}

/// White Gaussian noise with the given RMS.
pub fn white(seconds: f64, rms: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..(seconds * SR as f64) as usize)
        .map(|_| (rms * rng.gauss()) as f32)
        .collect()
}

/// Pink (1/f) noise by Paul Kellet's economy filter on white noise, scaled to `rms`.
pub fn pink(seconds: f64, rms: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let (mut b0, mut b1, mut b2) = (0.0, 0.0, 0.0);
    let raw: Vec<f64> = (0..(seconds * SR as f64) as usize)
        .map(|_| {
            let w = rng.gauss();
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            b0 + b1 + b2 + w * 0.1848
        })
        .collect();
    let cur = (raw.iter().map(|x| x * x).sum::<f64>() / raw.len().max(1) as f64).sqrt();
    raw.iter().map(|x| (x * rms / cur) as f32).collect()
}

/// Brown (1/f², rumble-like) noise: white noise through a leaky integrator, scaled to
/// `rms`. Its power falls 6 dB an octave, so plain spectral flatness reads it as tonal.
pub fn brown(seconds: f64, rms: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut acc = 0.0;
    let raw: Vec<f64> = (0..(seconds * SR as f64) as usize)
        .map(|_| {
            acc = 0.995 * acc + rng.gauss();
            acc
        })
        .collect();
    let cur = (raw.iter().map(|x| x * x).sum::<f64>() / raw.len().max(1) as f64).sqrt();
    raw.iter()
        .map(|x| (x * rms / cur.max(1e-12)) as f32)
        .collect()
}

pub fn sine(seconds: f64, freq: f64, amp: f64) -> Vec<f32> {
    (0..(seconds * SR as f64) as usize)
        .map(|i| (amp * (std::f64::consts::TAU * freq * i as f64 / SR as f64).sin()) as f32)
        .collect()
}

/// Linear chirp from `f0` to `f1` Hz.
pub fn chirp(seconds: f64, f0: f64, f1: f64, amp: f64) -> Vec<f32> {
    let k = (f1 - f0) / seconds;
    (0..(seconds * SR as f64) as usize)
        .map(|i| {
            let t = i as f64 / SR as f64;
            (amp * (std::f64::consts::TAU * (f0 * t + 0.5 * k * t * t)).sin()) as f32
        })
        .collect()
}

/// A harmonic complex (f0 and `n` harmonics at 1/k amplitude), peak-normalised to `amp`.
pub fn harmonic(seconds: f64, f0: f64, n: usize, amp: f64) -> Vec<f32> {
    let raw: Vec<f64> = (0..(seconds * SR as f64) as usize)
        .map(|i| {
            let t = i as f64 / SR as f64;
            (1..=n)
                .map(|k| (std::f64::consts::TAU * f0 * k as f64 * t + k as f64).sin() / k as f64)
                .sum()
        })
        .collect();
    let peak = raw.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    raw.iter().map(|x| (x * amp / peak) as f32).collect()
}

/// Adds `src` into `dst` starting at `at` seconds.
pub fn mix_at(dst: &mut [f32], src: &[f32], at: f64) {
    let start = (at * SR as f64).round() as usize;
    for (d, s) in dst.iter_mut().skip(start).zip(src) {
        *d += s;
    }
}

/// Puts a single-sample click of `amp` at each time (seconds).
pub fn clicks(dst: &mut [f32], times: &[f64], amp: f32) {
    for &t in times {
        let i = (t * SR as f64).round() as usize;
        if let Some(s) = dst.get_mut(i) {
            *s += amp;
        }
    }
}

/// A short decaying broadband burst (a knock): noise under a 30 ms exponential decay.
pub fn knock(amp: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..(0.12 * SR as f64) as usize)
        .map(|i| {
            let t = i as f64 / SR as f64;
            (amp * (-t / 0.03).exp() * rng.gauss().clamp(-3.0, 3.0) / 3.0) as f32
        })
        .collect()
}

pub fn rms_of(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// A canonical 44-byte-header PCM WAV with the given header fields and data bytes.
pub fn raw_wav(
    channels: u16,
    rate: u32,
    bits: u16,
    format: u16,
    declared_data: u32,
    data: &[u8],
) -> Vec<u8> {
    let block = channels * (bits / 8);
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + declared_data).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&declared_data.to_le_bytes());
    v.extend_from_slice(data);
    v
}

pub fn pcm16(seconds: f64, rate: u32) -> Vec<u8> {
    (0..(seconds * f64::from(rate)) as usize)
        .flat_map(|i| {
            let v = (0.5
                * (std::f64::consts::TAU * 440.0 * i as f64 / f64::from(rate)).sin()
                * 32767.0) as i16;
            v.to_le_bytes()
        })
        .collect()
}

/// The segments as `start-end label` text, for assertion messages.
pub fn timeline(out: &mmprompt::audio::Collector) -> String {
    out.segments
        .iter()
        .map(|s| format!("{:.2}-{:.2} {}", s.start_s, s.end_s, s.label))
        .collect::<Vec<_>>()
        .join(", ")
}
