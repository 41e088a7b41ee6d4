//! The encoding ladder: which renditions a source gets, at what size and bit rate.

/// One rung of the ladder as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// The rung's size along the source's short side, in pixels (its label without `p`).
    pub lines: u32,
    /// Target video bit rate, bits/s.
    pub bit_rate: u64,
}

/// The ladder, highest first.
pub const LADDER: [Rung; 6] = [
    Rung {
        lines: 2160,
        bit_rate: 10_000_000,
    },
    Rung {
        lines: 1440,
        bit_rate: 8_000_000,
    },
    Rung {
        lines: 1080,
        bit_rate: 5_000_000,
    },
    Rung {
        lines: 720,
        bit_rate: 2_500_000,
    },
    Rung {
        lines: 480,
        bit_rate: 1_200_000,
    },
    Rung {
        lines: 360,
        bit_rate: 800_000,
    },
];

/// Capped VBR: the encoder's max rate as a multiple of the target (peaks stay honest).
pub const MAX_RATE_FACTOR: f64 = 1.07;
/// Capped VBR: the VBV buffer as a multiple of the target rate (in bits per second of buffer).
pub const BUFFER_FACTOR: f64 = 2.0;

/// Smallest source dimension accepted: below this there is nothing worth streaming.
pub const MIN_SOURCE_DIMENSION: u32 = 16;

/// A rung chosen for a particular source: its name and exact output size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RungPlan {
    /// The label used in URLs and storage keys (`720p`).
    pub name: String,
    /// Output width (even).
    pub width: u32,
    /// Output height (even).
    pub height: u32,
    /// Target bit rate, bits/s.
    pub bit_rate: u64,
}

fn even(x: f64) -> u32 {
    let v = (x / 2.0).round() as u32 * 2;
    v.max(2)
}

/// Short side of the picture track (see [`crate::manifest::Manifest::picture_track`]): large
/// enough for Mux's default thumbnail width (320 at 16:9) and a storyboard tile (256).
pub const PICTURE_TRACK_LINES: u32 = 180;

/// Key frame interval of the picture track, in milliseconds: a cold thumbnail decodes at
/// most this much video (6 frames at 30 fps). Chosen against 500, 250 and 125 ms by cold
/// thumbnail CPU, track size and PSNR (docs/PERFORMANCE.md, "Thumbnails", third run).
pub const PICTURE_TRACK_GOP_MS: u32 = 200;

/// Target bit rate of the picture track: enough for clean 320×180 stills with a key frame
/// every [`PICTURE_TRACK_GOP_MS`] (about 4–8 % on top of a ladder).
pub const PICTURE_TRACK_BIT_RATE: u64 = 300_000;

/// The picture track of a `width` × `height` source whose ladder is `ladder`: a rung of
/// [`PICTURE_TRACK_LINES`] at the source's aspect; `None` when the ladder's smallest rung is
/// no larger (it serves as well).
pub fn plan_picture_track(width: u32, height: u32, ladder: &[RungPlan]) -> Option<RungPlan> {
    let smallest = ladder.iter().map(|r| r.width.min(r.height)).min()?;
    if smallest <= PICTURE_TRACK_LINES || width == 0 || height == 0 {
        return None;
    }
    let short = f64::from(width.min(height));
    let scale = f64::from(PICTURE_TRACK_LINES) / short;
    let (w, h) = if width >= height {
        (even(f64::from(width) * scale), PICTURE_TRACK_LINES)
    } else {
        (PICTURE_TRACK_LINES, even(f64::from(height) * scale))
    };
    Some(RungPlan {
        name: format!("{PICTURE_TRACK_LINES}p"),
        width: w,
        height: h,
        bit_rate: PICTURE_TRACK_BIT_RATE,
    })
}

/// The rungs for a source of `width`×`height` display pixels, highest first.
///
/// A rung is kept when its lines are at or below the source's short side (never upscale).
/// When the source is smaller than the lowest rung, one rung at the source's own size is made
/// (named after its short side) so every video plays. Dimensions keep the aspect ratio and are
/// even, as 4:2:0 chroma requires.
pub fn plan_ladder(width: u32, height: u32) -> Vec<RungPlan> {
    if width == 0 || height == 0 {
        return Vec::new();
    }
    let short = width.min(height);
    let landscape = width >= height;
    let size = |lines: u32| {
        let scale = f64::from(lines) / f64::from(short);
        if landscape {
            (even(f64::from(width) * scale), even(f64::from(lines)))
        } else {
            (even(f64::from(lines)), even(f64::from(height) * scale))
        }
    };
    let mut plans: Vec<RungPlan> = LADDER
        .iter()
        .filter(|r| r.lines <= short)
        .map(|r| {
            let (w, h) = size(r.lines);
            RungPlan {
                name: format!("{}p", r.lines),
                width: w,
                height: h,
                bit_rate: r.bit_rate,
            }
        })
        .collect();
    if plans.is_empty() {
        let lowest = LADDER[LADDER.len() - 1];
        let lines = even(f64::from(short));
        let (w, h) = if landscape {
            (even(f64::from(width)), lines)
        } else {
            (lines, even(f64::from(height)))
        };
        plans.push(RungPlan {
            name: format!("{lines}p"),
            width: w,
            height: h,
            bit_rate: lowest.bit_rate * u64::from(lines) / u64::from(lowest.lines),
        });
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_track_is_planned_only_below_the_smallest_rung() {
        let p = plan_picture_track(1280, 720, &plan_ladder(1280, 720)).unwrap();
        assert_eq!((p.name.as_str(), p.width, p.height), ("180p", 320, 180));
        let p = plan_picture_track(720, 1280, &plan_ladder(720, 1280)).unwrap();
        assert_eq!((p.width, p.height), (180, 320));
        let p = plan_picture_track(1440, 1080, &plan_ladder(1440, 1080)).unwrap();
        assert_eq!((p.width, p.height), (240, 180));
        // A source whose only rung is already that small needs none.
        assert!(plan_picture_track(320, 180, &plan_ladder(320, 180)).is_none());
        assert!(plan_picture_track(240, 136, &plan_ladder(240, 136)).is_none());
        assert!(plan_picture_track(1280, 720, &[]).is_none());
    }

    #[test]
    fn full_hd_gets_four_rungs() {
        let names: Vec<_> = plan_ladder(1920, 1080)
            .into_iter()
            .map(|r| (r.name, r.width, r.height))
            .collect();
        assert_eq!(
            names,
            vec![
                ("1080p".to_string(), 1920, 1080),
                ("720p".to_string(), 1280, 720),
                ("480p".to_string(), 854, 480),
                ("360p".to_string(), 640, 360),
            ]
        );
    }

    #[test]
    fn four_by_three_keeps_its_aspect_with_even_sizes() {
        let r = plan_ladder(640, 480);
        assert_eq!(r.len(), 2);
        assert_eq!((r[1].width, r[1].height), (480, 360));
    }

    #[test]
    fn portrait_uses_the_short_side() {
        let r = plan_ladder(720, 1280);
        assert_eq!(r[0].name, "720p");
        assert_eq!((r[0].width, r[0].height), (720, 1280));
    }

    #[test]
    fn tiny_source_gets_one_rung_at_its_own_size() {
        let r = plan_ladder(320, 240);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].name.as_str(), r[0].width, r[0].height),
            ("240p", 320, 240)
        );
        assert!(crate::names::is_valid_rendition(&r[0].name));
    }

    #[test]
    fn never_upscales() {
        for (w, h) in [(3840, 2160), (1280, 720), (1000, 700), (400, 300)] {
            for r in plan_ladder(w, h) {
                assert!(r.width <= w + 1 && r.height <= h + 1, "{w}x{h} -> {r:?}");
                assert_eq!(r.width % 2, 0);
                assert_eq!(r.height % 2, 0);
            }
        }
    }
}
