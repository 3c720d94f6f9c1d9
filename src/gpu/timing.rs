//! Timing recorded work, for benchmarks: GPU timestamp queries when the
//! device has them (`Features::TIMESTAMP_QUERY`), synchronised wall time
//! always.
//!
//! The timestamps are written by empty compute passes submitted just before
//! and just after the flushed work, so the recorder and the normal `flush`
//! stay exactly as they are: timing costs nothing when it is not used.

use std::time::Instant;

use super::Gpu;

/// Per-repetition times of some recorded work, in nanoseconds.
#[derive(Clone, Debug, Default)]
pub struct TimingResult {
    /// From the GPU's timestamps (start of the first to end of the last
    /// command); `None` when the device has no timestamp queries.
    pub gpu_ns: Option<Vec<f64>>,
    /// From before recording until the device is idle again (includes
    /// encoding and submitting).
    pub wall_ns: Vec<f64>,
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

impl TimingResult {
    pub fn median_gpu_ns(&self) -> Option<f64> {
        self.gpu_ns.as_deref().map(median)
    }

    pub fn median_wall_ns(&self) -> f64 {
        median(&self.wall_ns)
    }

    /// The GPU median when there are timestamps, else the wall median.
    pub fn best_ns(&self) -> f64 {
        self.median_gpu_ns()
            .unwrap_or_else(|| self.median_wall_ns())
    }

    /// `"gpu timestamps"` or `"wall clock"`: where [`TimingResult::best_ns`] comes from.
    pub fn source(&self) -> &'static str {
        if self.gpu_ns.is_some() {
            "gpu timestamps"
        } else {
            "wall clock"
        }
    }

    /// Append the samples of another measurement of the same work.
    pub fn extend(&mut self, other: TimingResult) {
        if self.wall_ns.is_empty() {
            *self = other;
            return;
        }
        self.wall_ns.extend(other.wall_ns);
        self.gpu_ns = match (self.gpu_ns.take(), other.gpu_ns) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            _ => None,
        };
    }
}

impl Gpu {
    /// Time `reps` repetitions of the work that `record` records (it must
    /// only record: anything that flushes, such as a read, splits the work).
    /// Pending work is finished first; each repetition is flushed and waited
    /// for on its own.
    pub fn time(&self, reps: usize, mut record: impl FnMut()) -> TimingResult {
        self.sync();
        let queries = (self.summary.timestamps && reps > 0).then(|| {
            self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timing"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * reps as u32,
            })
        });
        let mut wall_ns = Vec::with_capacity(reps);
        for rep in 0..reps as u32 {
            let t0 = Instant::now();
            if let Some(q) = &queries {
                self.submit_timestamp(q, 2 * rep);
            }
            record();
            self.flush();
            if let Some(q) = &queries {
                self.submit_timestamp(q, 2 * rep + 1);
            }
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .expect("device lost while timing");
            wall_ns.push(t0.elapsed().as_secs_f64() * 1e9);
        }
        let gpu_ns = queries.map(|q| {
            let period = self.queue.get_timestamp_period() as f64;
            let ticks = self.read_timestamps(&q, 2 * reps as u32);
            ticks
                .chunks(2)
                .map(|t| t[1].saturating_sub(t[0]) as f64 * period)
                .collect()
        });
        TimingResult { gpu_ns, wall_ns }
    }

    /// Submit an empty compute pass that writes timestamp `index` when it begins.
    fn submit_timestamp(&self, queries: &wgpu::QuerySet, index: u32) {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("timestamp"),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: queries,
                beginning_of_pass_write_index: Some(index),
                end_of_pass_write_index: None,
            }),
        });
        self.queue.submit([encoder.finish()]);
    }

    fn read_timestamps(&self, queries: &wgpu::QuerySet, count: u32) -> Vec<u64> {
        let bytes = count as u64 * 8;
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.resolve_query_set(queries, 0..count, &resolve, 0);
        encoder.copy_buffer_to_buffer(&resolve, 0, &readback, 0, bytes);
        self.queue.submit([encoder.finish()]);
        readback.map_async(wgpu::MapMode::Read, .., |r| {
            r.expect("mapping the timestamp buffer failed")
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("device lost while reading timestamps");
        let ticks = bytemuck::cast_slice::<u8, u64>(
            &readback
                .get_mapped_range(..)
                .expect("timestamp buffer mapped"),
        )
        .to_vec();
        readback.unmap();
        ticks
    }
}
