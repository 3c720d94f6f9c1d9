//! A buffer pool that reuses allocations.
//!
//! A training step allocates the same shapes every time; returning buffers to
//! a free list keyed by (usage, capacity) makes the second step allocate
//! nothing. Reusing a buffer that a not-yet-submitted command still reads is
//! safe: commands run in recording order and wgpu inserts the barriers, so a
//! later writer always comes after an earlier reader.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

/// Round a byte size up to a capacity class: powers of two below 64 KiB, then
/// eighths of the next power of two (at most 12.5% waste), so that shapes that
/// differ a little share buffers.
pub fn capacity_class(bytes: u64) -> u64 {
    let bytes = bytes.max(16);
    if bytes <= 65536 {
        return bytes.next_power_of_two();
    }
    let p = bytes.next_power_of_two();
    let step = p / 16;
    bytes.div_ceil(step) * step
}

#[derive(Default)]
pub struct BufferPool {
    free: HashMap<(u32, u64), Vec<wgpu::Buffer>>,
    /// Bytes currently held in free lists.
    pub cached_bytes: u64,
    /// Bytes ever allocated from the device (for reports).
    pub allocated_bytes: u64,
}

impl BufferPool {
    pub fn take(&mut self, usage: wgpu::BufferUsages, capacity: u64) -> Option<wgpu::Buffer> {
        let list = self.free.get_mut(&(usage.bits(), capacity))?;
        let b = list.pop()?;
        self.cached_bytes -= capacity;
        Some(b)
    }

    pub fn give(&mut self, buffer: wgpu::Buffer) {
        let cap = buffer.size();
        self.cached_bytes += cap;
        self.free
            .entry((buffer.usage().bits(), cap))
            .or_default()
            .push(buffer);
    }

    /// Drop every cached buffer (memory goes back to the device).
    pub fn trim(&mut self) {
        self.free.clear();
        self.cached_bytes = 0;
    }
}

/// A GPU buffer owned by one or more tensors; it goes back to the pool when the
/// last owner drops it.
pub struct Storage {
    buffer: Option<wgpu::Buffer>,
    /// Bytes in use (the buffer's capacity may be larger).
    pub bytes: u64,
    pool: Weak<RefCell<BufferPool>>,
}

impl Storage {
    pub fn new(buffer: wgpu::Buffer, bytes: u64, pool: &Rc<RefCell<BufferPool>>) -> Storage {
        Storage {
            buffer: Some(buffer),
            bytes,
            pool: Rc::downgrade(pool),
        }
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buffer
            .as_ref()
            .expect("storage buffer present until drop")
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let (Some(b), Some(pool)) = (self.buffer.take(), self.pool.upgrade()) {
            pool.borrow_mut().give(b);
        }
    }
}
