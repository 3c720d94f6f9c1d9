//! Tasks packed into flat index buffers for the GPU, and grouping of tasks
//! by their number of specification pairs (a packed batch needs equal
//! counts). Used by evaluation, search and inspection alike.

use super::Task;

/// Tasks packed into flat index buffers, all with the same number of
/// specification pairs.
pub struct PackedTasks {
    pub count: usize,
    pub pairs: usize,
    pub n: usize,
    /// [count, pairs, n]
    pub spec_x: Vec<u32>,
    pub spec_y: Vec<u32>,
    /// [count, n]
    pub query_x: Vec<u32>,
}

impl PackedTasks {
    pub fn new(tasks: &[&Task]) -> PackedTasks {
        let pairs = tasks.first().map_or(0, |t| t.spec.len());
        let n = tasks.first().map_or(0, |t| t.query.x.len());
        let mut p = PackedTasks {
            count: tasks.len(),
            pairs,
            n,
            spec_x: Vec::with_capacity(tasks.len() * pairs * n),
            spec_y: Vec::with_capacity(tasks.len() * pairs * n),
            query_x: Vec::with_capacity(tasks.len() * n),
        };
        for t in tasks {
            assert_eq!(
                t.spec.len(),
                pairs,
                "packed tasks must have equal pair counts"
            );
            for pair in &t.spec {
                p.spec_x.extend(&pair.x);
                p.spec_y.extend(&pair.y);
            }
            p.query_x.extend(&t.query.x);
        }
        p
    }
}

/// Indices of `tasks` grouped by their number of specification pairs, in
/// chunks of at most `chunk` tasks.
pub fn chunks_by_pairs(tasks: &[Task], chunk: usize) -> Vec<Vec<usize>> {
    let mut by_pairs: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, t) in tasks.iter().enumerate() {
        by_pairs.entry(t.spec.len()).or_default().push(i);
    }
    by_pairs
        .into_values()
        .flat_map(|ids| {
            ids.chunks(chunk.max(1))
                .map(|c| c.to_vec())
                .collect::<Vec<_>>()
        })
        .collect()
}
