//! Packing data into PutMetricData requests within CloudWatch's limits:
//! at most [`MAX_DATA_PER_REQUEST`] data and [`MAX_REQUEST_BYTES`] of body
//! each. The SDK serialises a request only when it sends it, so the body's
//! size is estimated, from above, from the CBOR encoding it will have.

use aws_sdk_cloudwatch::types::MetricDatum;

/// CloudWatch's limit on data in one PutMetricData request.
pub const MAX_DATA_PER_REQUEST: usize = 1000;
/// A request body geolat keeps under. CloudWatch's limit is 1 MB; staying
/// under a decimal megabyte, by an estimate from above, leaves no doubt
/// which megabyte was meant.
pub const MAX_REQUEST_BYTES: usize = 1_000_000;

/// Upper bounds on the RPC v2 CBOR (RFC 8949) the SDK sends: an item's
/// head (major type and length or value) takes at most 9 bytes, a double
/// 9 (a head byte and 8), a text its head and its bytes. Maps are written
/// with indefinite length: a head byte and a break byte.
const HEAD: usize = 9;
const DOUBLE: usize = 9;
const MAP: usize = 2;

fn text(s: &str) -> usize {
    HEAD + s.len()
}

/// The bytes `datum` takes in a request, from above: the fields geolat
/// sets (name, dimensions, timestamp, value or values and counts, unit).
fn datum_size(datum: &MetricDatum) -> usize {
    let mut n = MAP;
    n += text("MetricName") + text(datum.metric_name().unwrap_or_default());
    n += text("Dimensions") + HEAD;
    for d in datum.dimensions() {
        n += MAP + text("Name") + text(d.name().unwrap_or_default());
        n += text("Value") + text(d.value().unwrap_or_default());
    }
    // A timestamp is tag 1 (one head) around a double.
    n += text("Timestamp") + HEAD + DOUBLE;
    if datum.value().is_some() {
        n += text("Value") + DOUBLE;
    }
    n += text("Values") + HEAD + DOUBLE * datum.values().len();
    n += text("Counts") + HEAD + DOUBLE * datum.counts().len();
    if let Some(unit) = datum.unit() {
        n += text("Unit") + text(unit.as_str());
    }
    n
}

/// The bytes a request takes besides its data, from above.
fn request_overhead(namespace: &str) -> usize {
    MAP + text("Namespace") + text(namespace) + text("MetricData") + HEAD
}

/// The body of a request of `data` to `namespace`, in bytes, from above
/// (before the SDK compresses it).
pub fn request_size(data: &[MetricDatum], namespace: &str) -> usize {
    request_overhead(namespace) + data.iter().map(datum_size).sum::<usize>()
}

/// A metric's identity: its name and dimensions.
fn identity(datum: &MetricDatum) -> (String, Vec<(String, String)>) {
    let mut dims: Vec<(String, String)> = datum
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_owned(),
                d.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    dims.sort();
    (datum.metric_name().unwrap_or_default().to_owned(), dims)
}

/// One request being filled.
struct Open {
    data: Vec<MetricDatum>,
    size: usize,
    metrics: std::collections::HashSet<(String, Vec<(String, String)>)>,
}

/// Data packed into requests of at most [`MAX_DATA_PER_REQUEST`] data and
/// [`MAX_REQUEST_BYTES`] bytes, and at most one datum per metric: a
/// request may carry at most 150 values per metric ("up to 150 values per
/// metric with one PutMetricData request"), so the data a large histogram
/// was split into go to different requests. A datum of geolat's is a few
/// kilobytes at most (150 values, four dimensions of at most 1024
/// characters), so every one fits a request of its own. Each datum goes to
/// the first request that can take it; data keep their order within a
/// request.
pub fn batches(data: Vec<MetricDatum>, namespace: &str) -> Vec<Vec<MetricDatum>> {
    let overhead = request_overhead(namespace);
    let mut open: Vec<Open> = Vec::new();
    // Requests before this one are full by count.
    let mut first = 0;
    for datum in data {
        let n = datum_size(&datum);
        let id = identity(&datum);
        let fits = |o: &Open| {
            o.data.len() < MAX_DATA_PER_REQUEST
                && o.size + n <= MAX_REQUEST_BYTES
                && !o.metrics.contains(&id)
        };
        let at = match open[first..].iter().position(fits) {
            Some(i) => first + i,
            None => {
                open.push(Open {
                    data: Vec::new(),
                    size: overhead,
                    metrics: std::collections::HashSet::new(),
                });
                open.len() - 1
            }
        };
        let o = &mut open[at];
        o.size += n;
        o.metrics.insert(id);
        o.data.push(datum);
        while open
            .get(first)
            .is_some_and(|o| o.data.len() == MAX_DATA_PER_REQUEST)
        {
            first += 1;
        }
    }
    open.into_iter().map(|o| o.data).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::SparseHistogram;
    use crate::publish::cloudwatch::tests::{KEY, at, histogram};
    use crate::publish::cloudwatch::{DEFAULT_NAMESPACE, LatencyKey, latency_data};

    fn small_datum(i: usize) -> MetricDatum {
        let geo = format!("geo-{i}");
        let key = LatencyKey { geo: &geo, ..KEY };
        let mut h = SparseHistogram::default();
        h.record_n(1_000, 1);
        latency_data(&key, &h, at()).remove(0)
    }

    #[test]
    fn requests_hold_at_most_1000_data() {
        for (data, want) in [
            (999, vec![999]),
            (1000, vec![1000]),
            (1001, vec![1000, 1]),
            (2001, vec![1000, 1000, 1]),
        ] {
            let data: Vec<MetricDatum> = (0..data).map(small_datum).collect();
            let sizes: Vec<usize> = batches(data, DEFAULT_NAMESPACE)
                .iter()
                .map(Vec::len)
                .collect();
            assert_eq!(sizes, want);
        }
        assert!(batches(Vec::new(), DEFAULT_NAMESPACE).is_empty());
    }

    #[test]
    fn requests_stay_under_the_payload_limit() {
        // Full data of 150 values: far fewer than 1000 fit a megabyte.
        let h = histogram(150);
        let geos: Vec<String> = (0..400).map(|i| format!("geo-{i:03}")).collect();
        let data: Vec<MetricDatum> = geos
            .iter()
            .flat_map(|geo| latency_data(&LatencyKey { geo, ..KEY }, &h, at()))
            .collect();
        assert_eq!(data.len(), 400);
        let one = datum_size(&data[0]);
        let per_request = (MAX_REQUEST_BYTES - request_overhead("Geolat")) / one;
        assert!(per_request < 400, "{per_request} full data fit a request");
        let batches = batches(data, "Geolat");
        for (i, b) in batches.iter().enumerate() {
            assert!(request_size(b, "Geolat") <= MAX_REQUEST_BYTES);
            if let Some(next) = batches.get(i + 1) {
                // Full: the next datum would not have fitted.
                assert!(request_size(b, "Geolat") + datum_size(&next[0]) > MAX_REQUEST_BYTES);
            }
        }
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 400);
        assert!(sizes[..sizes.len() - 1].iter().all(|&n| n == per_request));
    }

    #[test]
    fn the_size_estimate_counts_every_byte_it_is_given() {
        let d = small_datum(7);
        let mut longer = d.clone();
        longer.values.as_mut().unwrap().push(2.0);
        longer.counts.as_mut().unwrap().push(1.0);
        assert_eq!(datum_size(&longer), datum_size(&d) + 2 * DOUBLE);
        let key = LatencyKey {
            geo: "geo-7-and-more",
            ..KEY
        };
        let renamed = latency_data(&key, &histogram(1), at()).remove(0);
        assert_eq!(
            datum_size(&renamed),
            datum_size(&d) + "-and-more".len(),
            "the same datum but for a longer geo"
        );
    }

    #[test]
    fn one_metric_never_gets_more_than_150_values_in_a_request() {
        // 400 buckets: three data of the same metric, so three requests,
        // each shared with other metrics' data.
        let big = latency_data(&KEY, &histogram(400), at());
        assert_eq!(big.len(), 3);
        let others: Vec<MetricDatum> = (0..5).map(small_datum).collect();
        let data: Vec<MetricDatum> = big.into_iter().chain(others).collect();
        let requests = batches(data, DEFAULT_NAMESPACE);
        assert_eq!(requests.len(), 3);
        for r in &requests {
            let mut seen = std::collections::HashSet::new();
            assert!(
                r.iter().all(|d| seen.insert(identity(d))),
                "one datum per metric"
            );
        }
        assert_eq!(
            requests[0].len(),
            6,
            "the other metrics share the first request"
        );
    }
}
