//! Per-kernel GPU time of recorded work, from timestamp queries around each
//! dispatch. Profiling puts every dispatch in its own compute pass (so it
//! costs a little itself); off by default.

use std::collections::HashMap;

/// Total time and launch count per kernel (pipeline key).
#[derive(Clone, Debug, Default)]
pub struct KernelProfile {
    pub by_kernel: HashMap<String, (u64, f64)>,
}

impl KernelProfile {
    pub fn add(&mut self, kernel: &str, ns: f64) {
        let e = self.by_kernel.entry(kernel.to_string()).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += ns;
    }

    pub fn total_ns(&self) -> f64 {
        self.by_kernel.values().map(|(_, ns)| ns).sum()
    }

    /// (kernel, launches, total ms) sorted by time, largest first.
    pub fn rows(&self) -> Vec<(String, u64, f64)> {
        let mut rows: Vec<_> = self
            .by_kernel
            .iter()
            .map(|(k, (n, ns))| (k.clone(), *n, ns / 1e6))
            .collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        rows
    }

    /// A table of the kernels' share of the total.
    pub fn table(&self) -> String {
        let total = self.total_ns() / 1e6;
        let mut s = format!(
            "{:<48} {:>8} {:>10} {:>7}\n",
            "kernel", "launches", "ms", "share"
        );
        for (k, n, ms) in self.rows() {
            s.push_str(&format!(
                "{k:<48} {n:>8} {ms:>10.2} {:>6.1}%\n",
                100.0 * ms / total.max(1e-12)
            ));
        }
        s.push_str(&format!("{:<48} {:>8} {total:>10.2}\n", "total", ""));
        s
    }
}
