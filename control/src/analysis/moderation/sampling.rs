//! Which frames the offline classifier judges. An uploader who knows the rule must not be
//! able to place content where it is never looked at, so the rule is not a fixed grid:
//! every key frame is judged, and in each interval of `every` seconds one more frame, at an
//! offset drawn at random for that interval from a generator seeded afresh for every job.
//! Pure: the frames' times come in, decisions go out.

use rand::Rng;

/// Picks frames to classify, in decoding order.
#[derive(Debug)]
pub struct Sampler<R> {
    every: f64,
    rng: R,
    /// The interval the last frame fell in, its random pick's time, and whether it was taken.
    interval: Option<i64>,
    target: f64,
    taken: bool,
}

impl<R: Rng> Sampler<R> {
    /// A sampler picking one random frame per `every` seconds (and every key frame).
    pub fn new(every: f64, rng: R) -> Sampler<R> {
        Sampler {
            every: if every.is_finite() && every > 0.0 {
                every
            } else {
                2.0
            },
            rng,
            interval: None,
            target: 0.0,
            taken: false,
        }
    }

    /// Whether the frame shown at `t` seconds (a key frame or not) is classified.
    pub fn choose(&mut self, t: f64, key: bool) -> bool {
        let k = (t.max(0.0) / self.every).floor() as i64;
        if self.interval != Some(k) {
            self.interval = Some(k);
            self.target = (k as f64 + self.rng.gen::<f64>()) * self.every;
            self.taken = false;
        }
        let random_pick = !self.taken && t + 1e-6 >= self.target;
        if random_pick {
            self.taken = true;
        }
        key || random_pick
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// 30 frames a second for `secs`, a key frame every 2 s; the times picked.
    fn picks(seed: u64, secs: u32) -> Vec<f64> {
        let mut s = Sampler::new(2.0, StdRng::seed_from_u64(seed));
        (0..secs * 30)
            .map(|i| (f64::from(i) / 30.0, i % 60 == 0))
            .filter(|&(t, key)| s.choose(t, key))
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn every_key_frame_and_one_random_frame_per_interval_are_judged() {
        let p = picks(1, 20);
        for k in 0..10 {
            let start = f64::from(k) * 2.0;
            let within: Vec<f64> = p
                .iter()
                .copied()
                .filter(|t| *t >= start && *t < start + 2.0)
                .collect();
            assert!(within.contains(&start), "key frame at {start}: {p:?}");
            assert!((1..=2).contains(&within.len()), "interval {k}: {within:?}");
        }
    }

    #[test]
    fn the_frames_judged_are_not_a_grid_an_uploader_can_predict() {
        // Across jobs the random picks fall all over the interval, not at fixed offsets.
        let mut offsets: Vec<f64> = (0..200)
            .flat_map(|seed| picks(seed, 2))
            .filter(|t| *t > 0.0)
            .collect();
        offsets.sort_by(f64::total_cmp);
        offsets.dedup();
        assert!(
            offsets.len() > 40,
            "only {} distinct offsets",
            offsets.len()
        );
        assert!(
            offsets[0] < 0.2 && *offsets.last().unwrap() > 1.8,
            "{offsets:?}"
        );
        // Two jobs on the same video judge different frames.
        assert_ne!(picks(1, 20), picks(2, 20));
    }
}
