//! Synthetic signals with exactly known content: labels, segment boundaries, onsets and
//! pitch must come out where they were put.

mod audio_signals;

use audio_signals::*;
use mmprompt::audio::{analyze, AnalyzerConfig, Collector, Label, Segment, Yin};

fn run(x: &[f32]) -> Collector {
    analyze(x, AnalyzerConfig::default()).expect("analysis").0
}

fn labels(out: &Collector) -> Vec<Label> {
    out.segments.iter().map(|s| s.label).collect()
}

fn onsets(out: &Collector) -> Vec<f64> {
    out.segments
        .iter()
        .flat_map(|s| s.onsets_s.clone())
        .collect()
}

fn covered(out: &Collector, label: Label) -> f64 {
    of_label(out, label)
        .iter()
        .map(|s| s.end_s - s.start_s)
        .sum()
}

fn of_label(out: &Collector, label: Label) -> Vec<&Segment> {
    out.segments.iter().filter(|s| s.label == label).collect()
}

fn only(out: &Collector, label: Label) -> &Segment {
    let v = of_label(out, label);
    assert_eq!(
        v.len(),
        1,
        "expected one {label} segment in {:#?}",
        out.segments
    );
    v[0]
}

#[test]
fn yin_finds_sine_pitch_within_one_percent() {
    let mut yin = Yin::new(16_000, 400, 80.0, 1000.0, 0.15).expect("400 samples is long enough");
    for f in [
        82.0, 100.0, 147.0, 220.0, 330.0, 440.0, 523.25, 700.0, 880.0, 1000.0,
    ] {
        let x = sine(0.1, f, 0.5);
        for start in [0usize, 37, 800] {
            let p = yin.estimate(&x[start..start + 400]).expect("pitched");
            let err = (f64::from(p.f0_hz) - f).abs() / f;
            assert!(err < 0.01, "{f} Hz: got {} ({err})", p.f0_hz);
            assert!(p.confidence > 0.9, "{f} Hz: confidence {}", p.confidence);
        }
    }
    // Noise has no pitch worth trusting.
    let n = white(0.1, 0.3, 3);
    let p = yin.estimate(&n[..400]);
    assert!(p.is_none_or(|p| p.confidence < 0.6), "{p:?}");
    assert!(yin.estimate(&[0.0; 400]).is_none());
}

/// A stream shorter than every label's minimum duration still gets one segment covering it
/// (it used to get none, and its document had no annotation at all).
#[test]
fn streams_shorter_than_any_minimum_get_one_segment() {
    for seconds in [0.03, 0.06, 0.09] {
        for (name, x) in [
            ("silence", vec![0.0f32; (seconds * 16_000.0) as usize]),
            ("tone", sine(seconds, 1000.0, 0.3)),
        ] {
            let out = run(&x);
            assert_eq!(
                out.segments.len(),
                1,
                "{name} {seconds}: {:#?}",
                out.segments
            );
            let s = &out.segments[0];
            assert_eq!(s.start_sample, 0, "{name} {seconds}");
            assert_eq!(s.end_sample, x.len() as u64, "{name} {seconds}");
        }
    }
}

#[test]
fn digital_silence_is_one_silent_segment() {
    let out = run(&silence(2.0));
    assert_eq!(labels(&out), [Label::Silence]);
    let s = &out.segments[0];
    assert_eq!((s.start_s, s.end_s), (0.0, 2.0));
    assert!(onsets(&out).is_empty());
    assert!(out.frames.iter().all(|f| f.features.f0_hz.is_none()));
}

#[test]
fn steady_hiss_is_noise_never_speech_and_has_no_onsets() {
    for (name, x) in [
        ("white -20 dBFS", white(4.0, 0.1, 1)),
        ("white -40 dBFS", white(4.0, 0.01, 2)),
        ("pink -25 dBFS", pink(4.0, 0.056, 3)),
        ("pink -45 dBFS", pink(4.0, 0.0056, 4)),
    ] {
        let out = run(&x);
        assert_eq!(labels(&out), [Label::Noise], "{name}: {:#?}", out.segments);
        assert!(onsets(&out).is_empty(), "{name}: {:?}", onsets(&out));
    }
}

#[test]
fn very_quiet_recordings_do_not_sprout_onsets() {
    // Dither-level noise far below any threshold.
    let out = run(&white(5.0, 3e-5, 5));
    assert!(onsets(&out).is_empty());
    assert_eq!(labels(&out), [Label::Silence]);
    // A quiet recording of clicks in room noise: the same onsets as the loud one, no more.
    let mut loud = white(4.0, 0.003, 6);
    clicks(&mut loud, &[0.5, 1.5, 2.5, 3.5], 0.5);
    let quiet: Vec<f32> = loud.iter().map(|x| x * 0.02).collect();
    let (a, b) = (onsets(&run(&loud)), onsets(&run(&quiet)));
    assert_eq!(a.len(), 4, "{a:?}");
    assert!(b.len() <= a.len(), "{b:?}");
}

#[test]
fn steady_and_chirped_sines_are_tones_with_the_right_pitch() {
    let out = run(&sine(2.0, 440.0, 0.5));
    assert_eq!(labels(&out), [Label::Tone]);
    let f0 = out.segments[0].median_f0_hz.expect("pitched");
    assert!((f64::from(f0) - 440.0).abs() < 4.4, "{f0}");
    assert!((out.segments[0].mean_centroid_hz - 440.0).abs() < 10.0);

    let out = run(&chirp(2.0, 200.0, 2000.0, 0.5));
    assert_eq!(labels(&out), [Label::Tone]);
    // Each frame's pitch follows the sweep while it is inside the 80–1000 Hz search range.
    for f in out.frames.iter().take(80).step_by(5) {
        let got = f64::from(f.features.f0_hz.expect("voiced"));
        // YIN compares the frame's first W = 400 − 201 samples with the same span one
        // period later, so it reports the pitch in the middle of that stretch.
        let span = 199.0 + SR as f64 / got;
        let t = (f.features.start_sample as f64 + span / 2.0) / SR as f64;
        let expect = 200.0 + 900.0 * t;
        assert!(
            (got - expect).abs() / expect < 0.01,
            "t={t}: {got} vs {expect}"
        );
    }
}

#[test]
fn clicks_are_found_within_10_ms() {
    let times = [0.5, 1.234, 2.0, 2.777];
    for (bg, name) in [(0.0, "silence"), (0.003, "room noise")] {
        let mut x = white(3.2, bg, 7);
        clicks(&mut x, &times, 0.8);
        let out = run(&x);
        let found = onsets(&out);
        assert_eq!(found.len(), times.len(), "{name}: {found:?}");
        for (f, t) in found.iter().zip(times) {
            assert!((f - t).abs() <= 0.010, "{name}: click at {t} found at {f}");
        }
        assert_eq!(
            of_label(&out, Label::Impact).len(),
            times.len(),
            "{name}: {:#?}",
            out.segments
        );
    }
}

#[test]
fn a_recording_cut_at_the_hit_begins_with_an_impact() {
    // A sound effect whose first sample is the knock: nothing before it can show a rise.
    knocks_are_impacts(1.5, [0.0, 0.8]);
    // A steady sound there from the first sample is no impact, and has no onset.
    for x in [sine(1.5, 880.0, 0.5), white(1.5, 0.2, 3)] {
        let out = run(&x);
        assert!(!labels(&out).contains(&Label::Impact), "{}", timeline(&out));
        assert!(onsets(&out).is_empty(), "{}", timeline(&out));
    }
}

#[test]
fn knocks_in_noise_are_impacts_at_the_right_time() {
    knocks_are_impacts(3.0, [1.0, 2.2]);
}

/// Two knocks at `at` in faint noise of `seconds` come out as two short impacts, each
/// starting within 20 ms of its knock with an onset within 10 ms.
fn knocks_are_impacts(seconds: f64, at: [f64; 2]) {
    let mut x = white(seconds, 0.003, 8);
    mix_at(&mut x, &knock(0.8, 9), at[0]);
    mix_at(&mut x, &knock(0.8, 10), at[1]);
    let out = run(&x);
    let impacts = of_label(&out, Label::Impact);
    assert_eq!(impacts.len(), 2, "{}", timeline(&out));
    for (s, t) in impacts.iter().zip(at) {
        assert!((s.start_s - t).abs() <= 0.02, "{}", timeline(&out));
        assert!(s.end_s - s.start_s < 0.3, "{}", timeline(&out));
        assert!(s.onsets_s.iter().any(|o| (o - t).abs() <= 0.01), "{s:?}");
    }
}

#[test]
fn a_tone_that_fills_the_recording_is_a_tone_at_any_ordinary_level() {
    // The floor of such a recording is the tone itself; from about -30 dB a pure tone is a
    // tone all the same, never ambient noise.
    for amp in [0.5, 0.125, 0.06] {
        for freq in [440.0, 1000.0, 3000.0] {
            let out = run(&sine(4.0, freq, amp));
            assert_eq!(
                labels(&out),
                [Label::Tone],
                "{freq} Hz at amplitude {amp}: {}",
                timeline(&out)
            );
        }
    }
    // A faint whine under that stays background.
    let out = run(&sine(4.0, 1000.0, 0.01));
    assert_eq!(labels(&out), [Label::Noise], "{}", timeline(&out));
}

#[test]
fn beeps_a_quarter_second_apart_stay_separate_and_start_where_they_start() {
    // Three 0.2 s beeps after a 0.3 s lead-in, 0.25 s of silence between them: a pause that
    // would stay inside speech is still the end of a beep.
    let starts = [0.3, 0.75, 1.2];
    let mut x = silence(1.7);
    for &a in &starts {
        mix_at(&mut x, &sine(0.2, 880.0, 0.3), a);
    }
    let out = run(&x);
    let tones = of_label(&out, Label::Tone);
    assert_eq!(tones.len(), 3, "{}", timeline(&out));
    for (s, &a) in tones.iter().zip(&starts) {
        assert!(
            (s.start_s - a).abs() <= 0.02 && (s.end_s - (a + 0.2)).abs() <= 0.02,
            "beep at {a}: {}",
            timeline(&out)
        );
    }
}

#[test]
fn tone_bursts_have_boundaries_within_two_frames() {
    let bursts = [(0.5, 0.8), (1.5, 1.6), (2.2, 3.0)];
    for snr_db in [f64::INFINITY, 20.0, 10.0] {
        let amp = 0.3;
        let noise_rms = if snr_db.is_finite() {
            amp / 2f64.sqrt() / 10f64.powf(snr_db / 20.0)
        } else {
            0.0
        };
        let mut x = white(3.5, noise_rms, 21);
        for &(a, b) in &bursts {
            mix_at(&mut x, &sine(b - a, 1000.0, amp), a);
        }
        let out = run(&x);
        let tones = of_label(&out, Label::Tone);
        assert_eq!(
            tones.len(),
            bursts.len(),
            "snr {snr_db}: {:#?}",
            out.segments
        );
        for (s, &(a, b)) in tones.iter().zip(&bursts) {
            assert!(
                (s.start_s - a).abs() <= 0.02 && (s.end_s - b).abs() <= 0.02,
                "snr {snr_db}: burst {a}-{b} segmented as {}-{}",
                s.start_s,
                s.end_s
            );
            let f0 = s.median_f0_hz.expect("pitched");
            assert!((f0 - 1000.0).abs() < 10.0, "{f0}");
        }
        assert!(!labels(&out).contains(&Label::Speech));
    }
}

#[test]
fn a_tone_drowned_at_0_db_snr_is_not_a_clean_tone() {
    let mut x = white(3.0, 0.3 / 2f64.sqrt(), 22);
    mix_at(&mut x, &sine(1.0, 1000.0, 0.3), 1.0);
    let out = run(&x);
    assert!(covered(&out, Label::Tone) < 0.5, "{:#?}", out.segments);
    assert!(!labels(&out).contains(&Label::Speech));
}

#[test]
fn a_sustained_harmonic_sound_is_music_with_its_pitch() {
    let mut x = silence(0.5);
    x.extend(harmonic(2.0, 220.0, 10, 0.5));
    x.extend(silence(0.5));
    let out = run(&x);
    let m = only(&out, Label::Music);
    assert!(m.end_s - m.start_s > 1.6, "{:#?}", out.segments);
    assert!((m.end_s - 2.5).abs() <= 0.02);
    let f0 = m.median_f0_hz.expect("pitched");
    assert!((f0 - 220.0).abs() < 2.2, "{f0}");
}

#[test]
fn segments_tile_the_whole_stream() {
    let mut x = white(3.0, 0.003, 30);
    mix_at(&mut x, &sine(0.5, 600.0, 0.4), 0.7);
    clicks(&mut x, &[2.0], 0.9);
    let out = run(&x);
    assert_eq!(out.segments.first().map(|s| s.start_sample), Some(0));
    assert_eq!(
        out.segments.last().map(|s| s.end_sample),
        Some(x.len() as u64)
    );
    for w in out.segments.windows(2) {
        assert_eq!(w[0].end_sample, w[1].start_sample);
        assert_ne!(w[0].label, w[1].label);
    }
    for s in &out.segments {
        assert!((0.0..=1.0).contains(&s.confidence));
        for o in &s.onsets_s {
            assert!(*o >= s.start_s - 0.02 && *o < s.end_s, "{s:?}");
        }
    }
}

#[test]
fn nan_and_inf_samples_are_counted_and_treated_as_zero() {
    let mut x = sine(1.0, 440.0, 0.5);
    x[100] = f32::NAN;
    x[200] = f32::INFINITY;
    let (out, summary) = analyze(&x, AnalyzerConfig::default()).expect("analysis");
    assert_eq!(summary.non_finite, 2);
    assert!(out.frames.iter().all(|f| f.features.rms.is_finite()));
}

#[test]
fn bad_configs_are_refused_with_codes() {
    use mmprompt::audio::Analyzer;
    let bad = [
        (
            AnalyzerConfig {
                sample_rate: 0,
                ..AnalyzerConfig::default()
            },
            "zero_sample_rate",
        ),
        (
            AnalyzerConfig {
                hop: 0,
                ..AnalyzerConfig::default()
            },
            "bad_hop",
        ),
        (
            AnalyzerConfig {
                hop: 401,
                ..AnalyzerConfig::default()
            },
            "bad_hop",
        ),
        (
            AnalyzerConfig {
                frame_len: 8,
                hop: 4,
                ..AnalyzerConfig::default()
            },
            "frame_too_short",
        ),
        (
            AnalyzerConfig {
                f0_min_hz: 500.0,
                f0_max_hz: 100.0,
                ..AnalyzerConfig::default()
            },
            "bad_pitch_range",
        ),
        (AnalyzerConfig::with_timing(44_100, 25.0, 10.0), "ok"),
        (
            AnalyzerConfig {
                vad: true,
                ..AnalyzerConfig::with_timing(44_100, 25.0, 10.0)
            },
            "vad_needs_16k",
        ),
    ];
    for (cfg, code) in bad {
        match Analyzer::new(cfg) {
            Ok(_) => assert_eq!(code, "ok"),
            Err(e) => assert_eq!(e.code(), code, "{e}"),
        }
    }
}

/// A steady tone is one tone segment however long it lasts, from the first sample or over
/// a noise floor: the floor cannot rise to meet a tonal foreground (it used to turn a
/// 10 s 880 Hz sine into noise after 2 s).
#[test]
fn a_long_steady_tone_stays_one_tone() {
    let out = run(&sine(10.0, 880.0, 0.3));
    assert_eq!(labels(&out), [Label::Tone], "{}", timeline(&out));

    let mut x = white(12.0, 0.003, 31);
    mix_at(&mut x, &sine(10.0, 880.0, 0.3), 1.0);
    let out = run(&x);
    let tones = of_label(&out, Label::Tone);
    assert_eq!(tones.len(), 1, "{}", timeline(&out));
    assert!((tones[0].start_s - 1.0).abs() <= 0.03, "{:?}", tones[0]);
    assert!((tones[0].end_s - 11.0).abs() <= 0.03, "{:?}", tones[0]);
}

/// Beeps that start with a click (as alarm and notification sounds do) are tones from
/// their first frame: no impact at the onset of a tone.
#[test]
fn no_impact_at_the_onset_of_a_tone() {
    let mut x = white(4.0, 0.002, 32);
    let starts = [0.5, 1.2, 1.9, 2.6, 3.3];
    for &t in &starts {
        let mut beep = sine(0.3, 1500.0, 0.2);
        // A 5 ms broadband attack, twice the beep's amplitude.
        for (i, s) in white(0.005, 0.4, 33).iter().enumerate() {
            beep[i] += s;
        }
        mix_at(&mut x, &beep, t);
    }
    let out = run(&x);
    assert!(!labels(&out).contains(&Label::Impact), "{}", timeline(&out));
    let tones = of_label(&out, Label::Tone);
    assert_eq!(tones.len(), starts.len(), "{}", timeline(&out));
    for (s, t) in tones.iter().zip(starts) {
        assert!((s.start_s - t).abs() <= 0.03, "{s:?}");
    }
}

/// An impact is the hit and its decay, not its first 40 ms: a noise burst decaying at
/// 50 dB/s (a slam in a live room) over quiet room noise is one impact lasting until its
/// decay is over: back at the floor or `impact_tail_db` (30 dB) under its peak.
#[test]
fn an_impact_lasts_until_its_decay_reaches_the_floor() {
    let sr = 16_000.0;
    let mut x = white(3.0, 0.001, 34);
    let burst: Vec<f32> = white(1.4, 0.3, 35)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let db = -50.0 * i as f64 / sr;
            s * 10f64.powf(db / 20.0) as f32
        })
        .collect();
    mix_at(&mut x, &burst, 1.0);
    let out = run(&x);
    let impacts = of_label(&out, Label::Impact);
    assert_eq!(impacts.len(), 1, "{}", timeline(&out));
    let s = impacts[0];
    assert!((s.start_s - 1.0).abs() <= 0.02, "{s:?}");
    // The burst starts 50 dB over the room noise (0.3 vs 0.001 rms): it is 30 dB under its
    // peak after 0.6 s, before it is back at the floor (44 dB, 0.88 s).
    let back_at_floor = 1.0 + 0.6;
    assert!(
        (s.end_s - back_at_floor).abs() <= 0.08,
        "impact ends at {} (expected about {back_at_floor}): {}",
        s.end_s,
        timeline(&out)
    );
}

/// Phase-continuous pure-sine notes, `note_s` each, cycling through `freqs`.
fn notes(freqs: &[f64], note_s: f64, seconds: f64) -> Vec<f32> {
    let n = (seconds * SR as f64) as usize;
    let per = (note_s * SR as f64) as usize;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let f = freqs[(i / per) % freqs.len()];
            phase += std::f64::consts::TAU * f / SR as f64;
            (0.4 * phase.sin()) as f32
        })
        .collect()
}

#[test]
fn a_melody_of_pure_notes_is_music_and_a_trill_stays_a_tone() {
    // Eight notes a second walking over two octaves: every frame is one dominant partial,
    // as a beep's is, but the notes step; that is a melody.
    let scale = [
        262.0, 330.0, 392.0, 523.0, 440.0, 349.0, 294.0, 494.0, 587.0, 659.0, 523.0, 392.0,
    ];
    let out = run(&notes(&scale, 0.125, 6.0));
    assert!(covered(&out, Label::Music) >= 4.8, "{}", timeline(&out));
    assert!(covered(&out, Label::Tone) <= 0.6, "{}", timeline(&out));
    // A phone's ring trills between the same two notes 25 times a second: one tone.
    let out = run(&notes(&[880.0, 1080.0], 0.04, 3.0));
    assert_eq!(labels(&out), [Label::Tone], "{}", timeline(&out));
}

#[test]
fn a_rumble_burst_is_noise_not_music() {
    // A passing car or a gust: 0.8 s of brown noise after silence. Its spectrum falls so
    // steeply that plain flatness reads it as tonal (under music's 0.02); divided by its
    // envelope it is plain noise.
    let mut x = silence(4.0);
    mix_at(&mut x, &brown(0.8, 0.05, 41), 1.0);
    let out = run(&x);
    assert_eq!(covered(&out, Label::Music), 0.0, "{}", timeline(&out));
    assert!(!labels(&out).contains(&Label::Speech), "{}", timeline(&out));
    let noise = only(&out, Label::Noise);
    assert!((noise.start_s - 1.0).abs() <= 0.05, "{}", timeline(&out));
}

#[test]
fn music_is_music_from_its_first_beat() {
    // Chords with a drum hit every quarter second, starting at 2 s over faint hiss. The
    // window before the first beat is background, so only the look-ahead can tell that
    // the first hits are drums inside music rather than knocks.
    let mut x = white(7.0, 0.003, 43);
    for (i, f0) in [220.0, 262.0, 196.0, 247.0].into_iter().enumerate() {
        mix_at(&mut x, &harmonic(1.125, f0, 8, 0.1), 2.0 + 1.125 * i as f64);
    }
    for k in 0..18 {
        mix_at(&mut x, &knock(0.9, 50 + k), 2.0 + 0.25 * k as f64);
    }
    let out = run(&x);
    let music = of_label(&out, Label::Music);
    assert!(!music.is_empty(), "{}", timeline(&out));
    assert!((music[0].start_s - 2.0).abs() <= 0.05, "{}", timeline(&out));
    assert!(music[0].end_s >= 5.9, "{}", timeline(&out));
    assert!(
        out.segments
            .iter()
            .all(|s| s.label != Label::Impact || s.start_s >= 5.9),
        "{}",
        timeline(&out)
    );
}

#[test]
fn a_beep_over_a_hum_is_a_tone_and_the_hum_stays_background() {
    // A 50 Hz mains hum with its harmonics fills the recording; a 1 kHz beep only a few dB
    // above it in total stands far above the floor of its own band.
    let hum: Vec<f32> = (0..4 * SR)
        .map(|i| {
            let t = i as f64 / SR as f64;
            let v: f64 = (1..8)
                .map(|k| (std::f64::consts::TAU * 50.0 * k as f64 * t).sin() / k as f64)
                .sum();
            (0.03 * v) as f32
        })
        .collect();
    let mut x = hum.clone();
    mix_at(&mut x, &sine(1.0, 1000.0, 0.03), 1.5);
    let out = run(&x);
    let tone = only(&out, Label::Tone);
    assert!((tone.start_s - 1.5).abs() <= 0.05, "{}", timeline(&out));
    assert!((tone.end_s - 2.5).abs() <= 0.05, "{}", timeline(&out));
    // The hum alone is background throughout.
    let out = run(&hum);
    assert_eq!(labels(&out), [Label::Noise], "{}", timeline(&out));
}

#[test]
fn a_note_over_rumble_is_heard_in_its_own_bands() {
    // A held 440 Hz note over loud rumble adds only a few dB to the total level, under the
    // background margin, but stands far over the floor of the bands it sounds in.
    let mut x = brown(5.0, 0.05, 47);
    let before = rms_of(&x[SR..3 * SR]);
    mix_at(&mut x, &harmonic(2.0, 440.0, 6, 0.07), 1.0);
    let rise_db = 20.0 * (rms_of(&x[SR..3 * SR]) / before).log10();
    assert!(
        rise_db < 3.5,
        "the note must hide in the total level: {rise_db} dB"
    );
    let out = run(&x);
    let m = only(&out, Label::Music);
    assert!((m.start_s - 1.0).abs() <= 0.1, "{}", timeline(&out));
    assert!((m.end_s - 3.0).abs() <= 0.1, "{}", timeline(&out));
}
