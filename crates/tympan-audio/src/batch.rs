//! Parallel feature extraction over many files with bounded memory.

use std::path::PathBuf;

use rayon::prelude::*;

/// Run `work` on every path in parallel (rayon's pool), handing results to `sink` **in input
/// order**. At most `max_in_flight` results are held at once, so memory stays bounded however
/// many files there are. `sink` receives the input index, the path and the result.
pub fn for_each_parallel<T, E, W, S>(paths: &[PathBuf], max_in_flight: usize, work: W, mut sink: S)
where
    T: Send,
    E: Send,
    W: Fn(&PathBuf) -> Result<T, E> + Sync,
    S: FnMut(usize, &PathBuf, Result<T, E>),
{
    let window = max_in_flight.max(1);
    for (c, chunk) in paths.chunks(window).enumerate() {
        let results: Vec<Result<T, E>> = chunk.par_iter().map(&work).collect();
        for (k, (p, r)) in chunk.iter().zip(results).enumerate() {
            sink(c * window + k, p, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_kept_and_errors_pass_through() {
        let paths: Vec<PathBuf> = (0..37).map(|i| PathBuf::from(format!("{i}"))).collect();
        let mut seen = Vec::new();
        for_each_parallel(
            &paths,
            4,
            |p| {
                let i: usize = p.to_str().unwrap().parse().unwrap();
                if i == 5 { Err("five") } else { Ok(i * 2) }
            },
            |i, _, r| seen.push((i, r)),
        );
        assert_eq!(seen.len(), 37);
        assert_eq!(seen[5], (5, Err("five")));
        assert!(
            seen.iter()
                .enumerate()
                .all(|(k, (i, r))| k == *i && (k == 5 || *r == Ok(k * 2)))
        );
    }
}
