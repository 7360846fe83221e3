//! The physical floor: no packet beats light in fibre. A geo's round trip
//! to a region cannot be shorter than twice the great-circle distance at
//! about 2/3 of c (200,000 km/s), so measured latency minus this floor is
//! the slack routing or the network could still win.

/// Mean Earth radius, km (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;
/// Light in fibre, km per millisecond (refractive index ~1.5).
const FIBRE_KM_PER_MS: f64 = 200.0;

/// Great-circle distance between two points in degrees, km (haversine).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// The fibre round-trip floor between two points, ms.
pub fn round_trip_ms(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    2.0 * distance_km(lat1, lon1, lat2, lon2) / FIBRE_KM_PER_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn london_to_new_york_is_about_5570_km_and_56_ms() {
        let d = distance_km(51.5074, -0.1278, 40.7128, -74.0060);
        assert!((d - 5570.0).abs() < 10.0, "{d}");
        let rtt = round_trip_ms(51.5074, -0.1278, 40.7128, -74.0060);
        assert!((rtt - 55.7).abs() < 0.2, "{rtt}");
    }

    #[test]
    fn the_same_point_has_no_floor_and_antipodes_half_the_globe() {
        assert_eq!(round_trip_ms(10.0, 20.0, 10.0, 20.0), 0.0);
        let half = distance_km(0.0, 0.0, 0.0, 180.0);
        assert!((half - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }
}
