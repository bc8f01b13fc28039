//! The GCJ-02 datum ("Mars coordinates") that Chinese map SDKs report: WeChat's
//! `wx.getLocation({type: 'gcj02'})`, Amap and Tencent maps. Inside China a GCJ-02 position is
//! WGS84 pushed by a smooth, deliberately obscure offset of a few hundred metres; outside China
//! the two are the same. The forward transform is the published one (Krasovsky 1940 ellipsoid and
//! the two trigonometric offset polynomials); the backward one has no closed form, so it is
//! solved by fixed-point iteration, which converges in a handful of steps because the offset
//! changes by less than 1e-4 degrees per degree moved.

use std::f64::consts::PI;

use crate::geometry::Coord;

/// Semi-major axis of the Krasovsky 1940 ellipsoid, in metres.
const A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid (published as
/// 0.00669342162296594323; the last digits are beyond what an f64 holds).
const EE: f64 = 0.006_693_421_622_965_943;
/// The GCJ-02 offset is defined relative to this point, (105°E, 35°N), near China's centre.
const ORIGIN: Coord = [105.0, 35.0];
/// Stop refining the inverse once the forward transform lands this close to the target.
const INVERSE_TOLERANCE: f64 = 1e-10;
/// The iteration gains about four digits per step; this cap only guards against a bad input.
const INVERSE_MAX_STEPS: usize = 30;

/// Whether `p` lies outside the rough box the GCJ-02 offset applies in, where GCJ-02 and WGS84
/// are the same. The box is the one every published implementation uses, so positions near
/// the borders agree with what the map SDKs report. Non-finite positions count as outside,
/// so they pass through the transforms unchanged.
pub fn out_of_china(p: Coord) -> bool {
    let [lng, lat] = p;
    !(72.004..=137.8347).contains(&lng) || !(0.8293..=55.8271).contains(&lat)
}

/// The sine terms of an offset polynomial: a fast ripple in `x` (the longitude offset) that both
/// polynomials share, then slower waves in `t`, the polynomial's own coordinate, whose two
/// longest amplitudes `slow` differ between latitude and longitude.
fn waves(x: f64, t: f64, slow: (f64, f64)) -> f64 {
    let ripple = 20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin();
    let medium = 20.0 * (t * PI).sin() + 40.0 * (t / 3.0 * PI).sin();
    let long = slow.0 * (t / 12.0 * PI).sin() + slow.1 * (t / 30.0 * PI).sin();
    (ripple + medium + long) * 2.0 / 3.0
}

/// The latitude offset polynomial in "metres-ish" units, of `x = lng - 105`, `y = lat - 35`.
fn offset_lat(x: f64, y: f64) -> f64 {
    -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * x.abs().sqrt()
        + waves(x, y, (160.0, 320.0))
}

/// The longitude offset polynomial, same variables as [`offset_lat`].
fn offset_lng(x: f64, y: f64) -> f64 {
    300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * x.abs().sqrt()
        + waves(x, x, (150.0, 300.0))
}

/// The GCJ-02 offset at a WGS84 position, in degrees: the polynomial values scaled by the
/// ellipsoid's meridian and parallel radii of curvature at that latitude.
fn offset(p: Coord) -> Coord {
    let (x, y) = (p[0] - ORIGIN[0], p[1] - ORIGIN[1]);
    let rad_lat = p[1].to_radians();
    let w = 1.0 - EE * rad_lat.sin().powi(2);
    let meridian_radius = A * (1.0 - EE) / (w * w.sqrt());
    let parallel_radius = A / w.sqrt() * rad_lat.cos();
    [
        offset_lng(x, y) * 180.0 / (parallel_radius * PI),
        offset_lat(x, y) * 180.0 / (meridian_radius * PI),
    ]
}

/// Converts a WGS84 position (GPS, GeoJSON) to GCJ-02 (`[lng, lat]` both ways). Outside China
/// the position is returned unchanged.
pub fn wgs84_to_gcj02(p: Coord) -> Coord {
    if out_of_china(p) {
        return p;
    }
    let d = offset(p);
    [p[0] + d[0], p[1] + d[1]]
}

/// Converts a GCJ-02 position, as a Chinese map SDK reports it, back to WGS84. Solved by
/// iteration until the forward transform reproduces `p` to 1e-10 degrees (about 0.01 mm), so
/// `wgs84_to_gcj02(gcj02_to_wgs84(p))` is `p` for every position in China. Outside China the
/// position is returned unchanged.
pub fn gcj02_to_wgs84(p: Coord) -> Coord {
    if out_of_china(p) {
        return p;
    }
    // The offset varies slowly, so subtracting the forward transform's error from the guess is
    // a contraction: each step shrinks the error by the offset's tiny derivative.
    let mut wgs = p;
    for _ in 0..INVERSE_MAX_STEPS {
        let gcj = wgs84_to_gcj02(wgs);
        let err = [gcj[0] - p[0], gcj[1] - p[1]];
        if err[0].abs() < INVERSE_TOLERANCE && err[1].abs() < INVERSE_TOLERANCE {
            break;
        }
        wgs = [wgs[0] - err[0], wgs[1] - err[1]];
    }
    wgs
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// WGS84 → GCJ-02 pairs published in the test files of independent implementations:
    /// wandergis/coordtransform (JavaScript, test/app.js), googollee/eviltransform (its Go and
    /// JavaScript tests share the Shanghai, Shenzhen and Beijing pairs). Both agree with this
    /// implementation to 1e-9 degrees.
    const KNOWN: [(Coord, Coord); 4] = [
        (
            [116.404, 39.915],
            [116.410_244_499_169_38, 39.916_404_281_501_64],
        ),
        (
            [121.527_210_6, 31.177_427_6],
            [121.531_541_859_215, 31.175_303_983_645_97],
        ),
        (
            [113.912_316, 22.543_847],
            [113.917_176_480_836_3, 22.540_796_131_694_766],
        ),
        (
            [116.377_817, 39.911_954],
            [116.384_047_224_556_57, 39.913_345_455_360_69],
        ),
    ];

    fn close(a: Coord, b: Coord, tol: f64) -> bool {
        (a[0] - b[0]).abs() < tol && (a[1] - b[1]).abs() < tol
    }

    #[test]
    fn forward_matches_published_pairs() {
        for (wgs, gcj) in KNOWN {
            let got = wgs84_to_gcj02(wgs);
            assert!(
                close(got, gcj, 1e-9),
                "{wgs:?} → {got:?}, published {gcj:?}"
            );
        }
    }

    #[test]
    fn inverse_recovers_published_pairs() {
        for (wgs, gcj) in KNOWN {
            let got = gcj02_to_wgs84(gcj);
            assert!(
                close(got, wgs, 1e-8),
                "{gcj:?} → {got:?}, published {wgs:?}"
            );
        }
    }

    #[test]
    fn inverse_matches_gcoord_example() {
        // hujiulong/gcoord's GCJ02 test: GCJ-02 (123, 45) is WGS84 ≈ (122.99395597, 44.99804071),
        // checked there to 5 decimals.
        let got = gcj02_to_wgs84([123.0, 45.0]);
        assert!(close(got, [122.993_955_97, 44.998_040_71], 1e-5), "{got:?}");
    }

    #[test]
    fn offset_is_a_few_hundred_metres_in_beijing() {
        let wgs = [116.404, 39.915];
        let gcj = wgs84_to_gcj02(wgs);
        let metres_east = (gcj[0] - wgs[0]) * 111_320.0 * wgs[1].to_radians().cos();
        let metres_north = (gcj[1] - wgs[1]) * 110_574.0;
        let shift = metres_east.hypot(metres_north);
        assert!((300.0..800.0).contains(&shift), "shift {shift} m");
    }

    #[test]
    fn round_trip_over_china_within_1e_7() {
        let mut worst = 0.0_f64;
        for i in 0..=60 {
            for j in 0..=50 {
                let wgs = [73.0 + f64::from(i), 3.0 + f64::from(j)];
                assert!(!out_of_china(wgs));
                let back = gcj02_to_wgs84(wgs84_to_gcj02(wgs));
                worst = worst.max((back[0] - wgs[0]).abs().max((back[1] - wgs[1]).abs()));
            }
        }
        assert!(worst < 1e-7, "worst round-trip error {worst} degrees");
    }

    #[test]
    fn round_trip_fine_grid_in_a_city_within_1e_9() {
        // A street-sized patch in Hangzhou at street-level spacing.
        for i in 0..50 {
            for j in 0..50 {
                let wgs = [120.15 + f64::from(i) * 1e-3, 30.27 + f64::from(j) * 1e-3];
                let back = gcj02_to_wgs84(wgs84_to_gcj02(wgs));
                assert!(close(back, wgs, 1e-9), "{wgs:?} came back as {back:?}");
            }
        }
    }

    #[test]
    fn outside_china_is_identity() {
        let abroad = [
            [2.3522, 48.8566],    // Paris
            [-74.006, 40.7128],   // New York
            [139.6917, 35.6895],  // Tokyo, east of the box
            [151.2093, -33.8688], // Sydney
            [103.8198, 0.3521],   // south of the box
            [70.0, 40.0],         // west of the box
            [100.0, 60.0],        // north of the box
        ];
        for p in abroad {
            assert!(out_of_china(p), "{p:?}");
            assert_eq!(wgs84_to_gcj02(p), p);
            assert_eq!(gcj02_to_wgs84(p), p);
        }
    }

    #[test]
    fn china_box_edges() {
        assert!(!out_of_china([72.004, 0.8293]));
        assert!(!out_of_china([137.8347, 55.8271]));
        assert!(out_of_china([72.003, 30.0]));
        assert!(out_of_china([137.835, 30.0]));
        assert!(out_of_china([100.0, 0.8292]));
        assert!(out_of_china([100.0, 55.8272]));
    }

    #[test]
    fn non_finite_positions_pass_through() {
        let nan = wgs84_to_gcj02([f64::NAN, 30.0]);
        assert!(nan[0].is_nan() && nan[1] == 30.0);
        assert_eq!(gcj02_to_wgs84([f64::INFINITY, 30.0]), [f64::INFINITY, 30.0]);
    }
}
