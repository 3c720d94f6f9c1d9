//! The GPU side of the engine: device, buffer pool, pipeline cache, command
//! recording and readback.
//!
//! Work is recorded, not executed: every kernel launch appends a [`Command`]
//! and its parameters to a list; [`Gpu::flush`] turns the whole list into one
//! command encoder (consecutive dispatches share one compute pass) and one
//! submit. Nothing is read back unless asked ([`Gpu::read_bytes`]).

pub mod device;
pub mod pool;
pub mod profile;
pub mod shaders;
pub mod timing;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

pub use device::{AdapterSummary, Device, DeviceOptions};
pub use pool::{BufferPool, Storage, capacity_class};

use crate::error::Result;

/// Usage of every tensor buffer.
pub const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);
const UNIFORM_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::UNIFORM.union(wgpu::BufferUsages::COPY_DST);
const READBACK_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::MAP_READ.union(wgpu::BufferUsages::COPY_DST);

/// A compiled compute pipeline and the bind group layout wgpu derived for it.
pub struct Kernel {
    pub name: String,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    /// Whether binding 0 is a uniform parameter block.
    has_params: bool,
}

/// One recorded piece of work.
enum Command {
    Dispatch {
        kernel: Rc<Kernel>,
        /// Byte range of this dispatch's parameters in the parameter arena.
        params: Option<(u64, u64)>,
        buffers: Vec<(u32, wgpu::Buffer, u64)>,
        /// Texture bindings (see [`Gpu::stage_texture`]).
        textures: Vec<(u32, wgpu::TextureView)>,
        groups: [u32; 3],
    },
    /// A buffer's vec4s into the texels of a texture, row by row
    /// ([`TEXTURE_ROW`] texels per row): `full_rows` whole rows, then
    /// `tail` texels of the next row.
    CopyToTexture {
        src: wgpu::Buffer,
        texture: wgpu::Texture,
        full_rows: u32,
        tail: u32,
    },
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    },
    Clear {
        buffer: wgpu::Buffer,
        bytes: u64,
    },
}

/// Counters for tests and reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuStats {
    pub dispatches: u64,
    pub submits: u64,
    pub readbacks: u64,
    pub pipelines_compiled: u64,
    pub buffers_created: u64,
}

/// The device plus everything needed to launch kernels on it.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    pool: Rc<RefCell<BufferPool>>,
    kernels: RefCell<HashMap<String, Rc<Kernel>>>,
    modules: RefCell<HashMap<String, wgpu::ShaderModule>>,
    /// Generated sources by name: the module and whether it has `Params`
    /// (one source may hold several entry points).
    generated_modules: RefCell<HashMap<String, (wgpu::ShaderModule, bool)>>,
    pending: RefCell<Vec<Command>>,
    arena: RefCell<Vec<u8>>,
    uniform_align: u64,
    checked_shaders: bool,
    stats: Cell<GpuStats>,
    /// Per-kernel timestamps are collected while this is Some.
    profile: RefCell<Option<profile::KernelProfile>>,
    /// Staging textures by (slot, rows): one each, reused (see
    /// [`Gpu::stage_texture`]).
    textures: RefCell<HashMap<(u32, u32), wgpu::Texture>>,
    /// Which products read their vec4 operands through textures.
    texture_operands: Cell<TextureOperands>,
    /// Whether the matmul shares its reads of R across a subgroup.
    shared_rhs: Cell<bool>,
    /// Block sizes forced by the environment (or a test), for tuning on a
    /// new adapter.
    tuning: Cell<Tuning>,
}

/// Block sizes that override the kernels' own choice for this adapter:
/// `NLI_MATMUL_BLOCK` (largest rows/columns of a matmul block, a power of
/// two from 4 to 32) and `NLI_ATTENTION_BLOCK` (query rows per attention
/// invocation, 1 to 64). For measuring a new adapter's best sizes with the
/// benchmarks; results do not depend on them beyond float rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tuning {
    pub matmul_block: Option<u32>,
    pub attention_block: Option<usize>,
}

/// Largest matmul block on lavapipe from Mesa 23 on: Mesa 25.0.7's llvmpipe
/// compiles compute kernels through LLVM's coroutine passes, which took more
/// than 10 minutes on the first `cpu`-preset step with 32x32 blocks
/// (`CoroSplit`'s frame building, seen in a debugger) and more than 5
/// minutes with 16x16 blocks, where Mesa 22.3.6 ran the first 10 steps in
/// 22 s. With 8x8 blocks Mesa 25.0.7 took 60-90 s for the first 10 steps
/// (compiling) and then ran at 0.48 steps/s, against 0.59 for Mesa 22.3.6
/// with its 32x32 blocks (the README's Benchmarks).
pub const NEWER_LAVAPIPE_MATMUL_BLOCK: u32 = 8;

/// The major version of Mesa in a driver description such as `llvmpipe
/// Mesa 22.3.6 (LLVM 15.0.6)` or `Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)`.
pub fn mesa_major(driver: &str) -> Option<u32> {
    let rest = &driver[driver.find("Mesa ")? + 5..];
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    major.parse().ok()
}

impl Tuning {
    /// The adapter's own block sizes where they differ from the kernels'
    /// defaults: on lavapipe from Mesa 23 on, matmul blocks of at most
    /// [`NEWER_LAVAPIPE_MATMUL_BLOCK`] (larger ones take minutes each to
    /// compile there). Only Mesa 22.3.6 and 25.0.7 were measured; 23 and 24
    /// are taken to be like 25.
    pub fn for_adapter(summary: &device::AdapterSummary) -> Tuning {
        let driver = format!("{} {}", summary.driver, summary.driver_info);
        let newer_lavapipe =
            summary.device_type == "Cpu" && mesa_major(&driver).is_some_and(|m| m >= 23);
        Tuning {
            matmul_block: newer_lavapipe.then_some(NEWER_LAVAPIPE_MATMUL_BLOCK),
            attention_block: None,
        }
    }

    /// These overrides, and `other`'s where these have none.
    pub fn or(self, other: Tuning) -> Tuning {
        Tuning {
            matmul_block: self.matmul_block.or(other.matmul_block),
            attention_block: self.attention_block.or(other.attention_block),
        }
    }

    /// Read the overrides from the environment; a value out of range is an
    /// error naming the variable.
    pub fn from_env() -> Result<Tuning> {
        Tuning::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Tuning::from_env`] with the variables looked up by `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Tuning> {
        let read = |name: &str, ok: fn(usize) -> bool, what: &str| -> Result<Option<usize>> {
            match var(name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(x) if ok(x) => Ok(Some(x)),
                    _ => Err(crate::error::Error::Config(format!(
                        "{name}={v:?}: expected {what}"
                    ))),
                },
            }
        };
        Ok(Tuning {
            matmul_block: read(
                "NLI_MATMUL_BLOCK",
                |x| x.is_power_of_two() && (4..=32).contains(&x),
                "a power of two from 4 to 32",
            )?
            .map(|x| x as u32),
            attention_block: read(
                "NLI_ATTENTION_BLOCK",
                |x| (1..=64).contains(&x),
                "a number of rows from 1 to 64",
            )?,
        })
    }
}

/// Which matrix products read their vec4 operands through staging textures
/// instead of storage buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextureOperands {
    /// None (the default on GPUs, where storage loads are cheap and the copy
    /// into a texture would be pure overhead).
    Off,
    /// Products large enough for the copy to pay (the default on CPU
    /// adapters: on lavapipe a storage load is a loop over the SIMD lanes, a
    /// texel fetch much cheaper, and the copy a memcpy).
    Large,
    /// Every product that can (tests force it on small products).
    All,
}

/// Texels (vec4s) per row of a staging texture: a texture row is then 4096
/// bytes, a multiple of the 256 bytes a buffer-to-texture copy needs.
pub const TEXTURE_ROW: u32 = 256;
/// See [`Gpu::texture_reads`].
pub const TEXTURE_MIN_TEXELS: usize = 1 << 12;

/// The storage buffers and staging textures of one dispatch, by binding
/// number ([`Gpu::dispatch_bound`]). [`Bindings::operand`] is the one place
/// that chooses between reading an operand from its buffer and from a
/// staged copy in a texture.
#[derive(Clone, Default)]
pub struct Bindings<'a> {
    pub buffers: Vec<(u32, &'a Storage)>,
    pub textures: Vec<(u32, wgpu::TextureView)>,
}

impl<'a> Bindings<'a> {
    /// Storage buffers only.
    pub fn buffers(buffers: &[(u32, &'a Storage)]) -> Bindings<'a> {
        Bindings {
            buffers: buffers.to_vec(),
            textures: Vec::new(),
        }
    }

    /// Bind `s` at `binding` as a storage buffer.
    pub fn buffer(&mut self, binding: u32, s: &'a Storage) -> &mut Self {
        self.buffers.push((binding, s));
        self
    }

    /// Bind the first `texels` vec4s of `s` at `binding`: with `texture`
    /// through the staging texture of `slot` ([`Gpu::stage_texture`], a
    /// copy recorded now), otherwise as the storage buffer itself.
    pub fn operand(
        &mut self,
        gpu: &Gpu,
        texture: bool,
        binding: u32,
        s: &'a Storage,
        texels: usize,
        slot: u32,
    ) -> &mut Self {
        if texture {
            self.textures
                .push((binding, gpu.stage_texture(s, texels, slot)));
        } else {
            self.buffers.push((binding, s));
        }
        self
    }

    /// These bindings plus `more` (shared operands first).
    pub fn with(&self, more: &[(u32, &'a Storage)]) -> Bindings<'a> {
        let mut b = self.clone();
        b.buffers.extend_from_slice(more);
        b
    }
}

fn module_key(shader: &str, defines: &[(&str, u32)]) -> String {
    let mut key = shader.to_string();
    for (name, value) in defines {
        key.push_str(&format!(":{name}={value}"));
    }
    key
}

/// Workgroup size of the one-dimensional kernels (must match the shaders'
/// `WG` constant).
pub const WG: u32 = 64;

impl Gpu {
    /// Open an adapter as `opts` says.
    pub fn new(opts: &DeviceOptions) -> Result<Gpu> {
        let dev = Device::open(opts)?;
        let uniform_align = dev.summary.limits.min_uniform_buffer_offset_alignment as u64;
        // Kernels guard their own indices, so by default shaders are built
        // without wgpu's runtime bounds checks (they cost a lot on lavapipe).
        // NLI_WGPU_CHECKED=1 turns the checks back on, for debugging.
        let checked_shaders = std::env::var("NLI_WGPU_CHECKED").is_ok_and(|v| v != "0");
        let cpu = dev.summary.device_type == "Cpu";
        let tuning = Tuning::from_env()?.or(Tuning::for_adapter(&dev.summary));
        Ok(Gpu {
            device: dev.device,
            queue: dev.queue,
            summary: dev.summary,
            pool: Rc::new(RefCell::new(BufferPool::default())),
            kernels: RefCell::new(HashMap::new()),
            modules: RefCell::new(HashMap::new()),
            generated_modules: RefCell::new(HashMap::new()),
            pending: RefCell::new(Vec::new()),
            arena: RefCell::new(Vec::new()),
            uniform_align,
            checked_shaders,
            stats: Cell::new(GpuStats::default()),
            profile: RefCell::new(None),
            textures: RefCell::new(HashMap::new()),
            // NLI_TEXTURE_OPERANDS=0 turns them off on CPU adapters too.
            texture_operands: Cell::new(
                if cpu && !std::env::var("NLI_TEXTURE_OPERANDS").is_ok_and(|v| v == "0") {
                    TextureOperands::Large
                } else {
                    TextureOperands::Off
                },
            ),
            // NLI_SHARED_RHS=0 turns the sharing off.
            shared_rhs: Cell::new(cpu && !std::env::var("NLI_SHARED_RHS").is_ok_and(|v| v == "0")),
            tuning: Cell::new(tuning),
        })
    }

    /// Whether matmul kernels share their reads of the right operand across
    /// a subgroup of 8 (`subgroupBroadcast`): on CPU adapters with subgroups
    /// of 8 (lavapipe), where every lane of a workgroup reads the same R
    /// and a read costs as much as tens of fmas.
    pub fn shared_rhs(&self) -> bool {
        self.shared_rhs.get() && self.summary.subgroup_size == Some(8)
    }

    /// Turn the sharing on or off (tests run both kernels on one adapter;
    /// it stays off where the adapter cannot).
    pub fn set_shared_rhs(&self, on: bool) {
        self.shared_rhs.set(on);
    }

    /// Block sizes that override the kernels' own choice.
    pub fn tuning(&self) -> Tuning {
        self.tuning.get()
    }

    /// Force block sizes (tests run the GPU choices on lavapipe).
    pub fn set_tuning(&self, tuning: Tuning) {
        self.tuning.set(tuning);
    }

    /// Which matmuls read their vec4 operands through textures.
    pub fn texture_operands(&self) -> TextureOperands {
        self.texture_operands.get()
    }

    /// Choose which matmuls read operands through textures (tests run every
    /// path on one adapter).
    pub fn set_texture_operands(&self, mode: TextureOperands) {
        self.texture_operands.set(mode);
    }

    /// Whether an element-wise kernel (layer norm, attention) should read an
    /// operand of `texels` vec4s through a staging texture: as the matmuls
    /// do ([`Gpu::texture_operands`]), under `Large` from
    /// [`TEXTURE_MIN_TEXELS`] vec4s (each staging is a copy of the operand).
    pub fn texture_reads(&self, texels: usize) -> bool {
        texels <= self.max_texture_texels()
            && match self.texture_operands() {
                TextureOperands::Off => false,
                TextureOperands::Large => texels >= TEXTURE_MIN_TEXELS,
                TextureOperands::All => true,
            }
    }

    /// Largest number of vec4s a staging texture holds.
    pub fn max_texture_texels(&self) -> usize {
        self.limits().max_texture_dimension_2d as usize * TEXTURE_ROW as usize
    }

    /// Record a copy of the first `texels` vec4s of `s` into a staging
    /// texture of slot `slot` (one texture per slot and size, reused by the
    /// next staging of that slot: wgpu orders the copy after the earlier
    /// dispatches that read it) and return a view for a `texture_2d<f32>`
    /// binding; texel i is at (i % TEXTURE_ROW, i / TEXTURE_ROW).
    pub fn stage_texture(&self, s: &Storage, texels: usize, slot: u32) -> wgpu::TextureView {
        assert!(
            texels <= self.max_texture_texels() && (texels as u64) * 16 <= s.buffer().size(),
            "stage_texture: {texels} texels from a buffer of {} bytes",
            s.buffer().size()
        );
        let rows = (texels as u32).div_ceil(TEXTURE_ROW).max(1);
        // Few sizes: rows rounded up to a power of two (within the limit).
        let class = rows
            .next_power_of_two()
            .min(self.limits().max_texture_dimension_2d);
        let texture = self
            .textures
            .borrow_mut()
            .entry((slot, class))
            .or_insert_with(|| {
                self.device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("staging texture"),
                    size: wgpu::Extent3d {
                        width: TEXTURE_ROW,
                        height: class,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::Rgba32Float,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                })
            })
            .clone();
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        self.pending.borrow_mut().push(Command::CopyToTexture {
            src: s.buffer().clone(),
            texture,
            full_rows: texels as u32 / TEXTURE_ROW,
            tail: texels as u32 % TEXTURE_ROW,
        });
        view
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.summary.limits
    }

    pub fn stats(&self) -> GpuStats {
        self.stats.get()
    }

    fn bump(&self, f: impl FnOnce(&mut GpuStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Bytes cached in the buffer pool.
    pub fn pool_cached_bytes(&self) -> u64 {
        self.pool.borrow().cached_bytes
    }

    pub fn trim_pool(&self) {
        self.pool.borrow_mut().trim();
    }

    fn raw_buffer(&self, usage: wgpu::BufferUsages, bytes: u64) -> wgpu::Buffer {
        let cap = capacity_class(bytes);
        if let Some(b) = self.pool.borrow_mut().take(usage, cap) {
            return b;
        }
        self.bump(|s| s.buffers_created += 1);
        self.pool.borrow_mut().allocated_bytes += cap;
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: cap,
            usage,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer of at least `bytes` bytes; its contents are undefined
    /// (a reused allocation), so kernels must write every element they own.
    pub fn alloc(&self, bytes: u64) -> Storage {
        let bytes = bytes.max(4);
        Storage::new(self.raw_buffer(STORAGE_USAGE, bytes), bytes, &self.pool)
    }

    /// A storage buffer set to zero (by a recorded clear).
    pub fn alloc_zeroed(&self, bytes: u64) -> Storage {
        let s = self.alloc(bytes);
        self.clear(&s);
        s
    }

    /// A storage buffer holding `data`.
    pub fn upload(&self, data: &[u8]) -> Storage {
        let s = self.alloc(data.len() as u64);
        self.write(&s, data);
        s
    }

    /// Overwrite the start of `s` with `data`. Pending commands are submitted
    /// first so that the write lands after them, in program order.
    pub fn write(&self, s: &Storage, data: &[u8]) {
        assert!(data.len() as u64 <= s.buffer().size());
        if data.is_empty() {
            return;
        }
        self.flush();
        self.queue.write_buffer(s.buffer(), 0, data);
    }

    /// Record a zero fill of the used part of `s`.
    pub fn clear(&self, s: &Storage) {
        let bytes = s.bytes.div_ceil(4) * 4;
        self.pending.borrow_mut().push(Command::Clear {
            buffer: s.buffer().clone(),
            bytes,
        });
    }

    /// Record a copy of `bytes` bytes between two storages.
    pub fn copy(&self, src: &Storage, src_offset: u64, dst: &Storage, dst_offset: u64, bytes: u64) {
        if bytes == 0 {
            return;
        }
        assert!(
            src_offset + bytes <= src.buffer().size() && dst_offset + bytes <= dst.buffer().size()
        );
        self.pending.borrow_mut().push(Command::Copy {
            src: src.buffer().clone(),
            src_offset,
            dst: dst.buffer().clone(),
            dst_offset,
            bytes,
        });
    }

    fn module(&self, shader: &'static str, defines: &[(&str, u32)]) -> wgpu::ShaderModule {
        let key = module_key(shader, defines);
        if let Some(m) = self.modules.borrow().get(&key) {
            return m.clone();
        }
        let source = shaders::source(shader)
            .unwrap_or_else(|| panic!("shader `{shader}` is not in shaders::SHADERS"));
        let source = shaders::specialize(source, defines).unwrap_or_else(|name| {
            panic!("{shader}.wgsl has no `const {name}: u32` to specialise")
        });
        let module = self.create_module(shader, source);
        self.modules.borrow_mut().insert(key, module.clone());
        module
    }

    fn create_module(&self, label: &str, source: String) -> wgpu::ShaderModule {
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        if self.checked_shaders {
            self.device.create_shader_module(desc)
        } else {
            // SAFETY: every kernel in shaders/ (and every generated one)
            // compares each index it computes against the sizes it is given
            // before touching memory, and every loop has a bound taken from
            // its parameters; the gradient and reference tests run the
            // kernels on sizes that are not multiples of the workgroup size
            // to exercise those guards.
            unsafe {
                self.device
                    .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        }
    }

    /// The pipeline for `entry` in `shaders/<shader>.wgsl`, compiled on first
    /// use and cached. `defines` replace the values of `const NAME: u32`
    /// declarations of the source (sizes that must be known at compile time,
    /// such as a per-invocation register array).
    pub fn kernel(&self, shader: &'static str, entry: &str, defines: &[(&str, u32)]) -> Rc<Kernel> {
        let key = format!("{}:{entry}", module_key(shader, defines));
        if let Some(k) = self.kernels.borrow().get(&key) {
            return k.clone();
        }
        let module = self.module(shader, defines);
        let has_params = shaders::source(shader).is_some_and(|s| s.contains("var<uniform>"));
        self.build_kernel(key, &module, entry, has_params)
    }

    /// An entry of one of [`shaders::VEC4_SHADERS`], built on vec4 elements
    /// when `vec4` (see [`shaders::vec4_source`]), else on f32.
    pub fn element_kernel(&self, shader: &'static str, entry: &str, vec4: bool) -> Rc<Kernel> {
        if vec4 {
            self.generated_kernel(&format!("{shader}_vec4"), entry, || {
                shaders::vec4_source(shader)
            })
        } else {
            self.kernel(shader, entry, &[])
        }
    }

    /// An entry of the vec4 build of one of [`shaders::VEC4_SHADERS`] that
    /// reads `operands` (name, binding) through staging textures
    /// ([`shaders::textured_source`]). A shader has one textured build,
    /// named `{shader}_vec4_t`: each caller passes it the same operands.
    pub fn textured_element_kernel(
        &self,
        shader: &'static str,
        entry: &str,
        operands: &[(&str, u32)],
    ) -> Rc<Kernel> {
        self.generated_kernel(&format!("{shader}_vec4_t"), entry, || {
            shaders::textured_source(&shaders::vec4_source(shader), operands)
        })
    }

    /// Like [`Gpu::kernel`], for WGSL generated at run time (kernels whose
    /// unrolled body depends on sizes, e.g. the matmul register blocks).
    /// `name` identifies the source: the same name must always give the same
    /// source, which is generated and compiled into a module only on the
    /// first call; other entry points of it reuse that module.
    pub fn generated_kernel(
        &self,
        name: &str,
        entry: &str,
        source: impl FnOnce() -> String,
    ) -> Rc<Kernel> {
        let key = format!("generated:{name}:{entry}");
        if let Some(k) = self.kernels.borrow().get(&key) {
            return k.clone();
        }
        let (module, has_params) = self
            .generated_modules
            .borrow_mut()
            .entry(name.to_string())
            .or_insert_with(|| {
                let source = source();
                let has_params = source.contains("var<uniform>");
                (self.create_module(name, source), has_params)
            })
            .clone();
        self.build_kernel(key, &module, entry, has_params)
    }

    fn build_kernel(
        &self,
        key: String,
        module: &wgpu::ShaderModule,
        entry: &str,
        has_params: bool,
    ) -> Rc<Kernel> {
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&key),
                layout: None,
                module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &[],
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        let layout = pipeline.get_bind_group_layout(0);
        let kernel = Rc::new(Kernel {
            name: key.clone(),
            pipeline,
            layout,
            has_params,
        });
        self.bump(|s| s.pipelines_compiled += 1);
        self.kernels.borrow_mut().insert(key, kernel.clone());
        kernel
    }

    /// Record one dispatch. `params` are the 32-bit words of the shader's
    /// uniform `Params` struct (binding 0); `buffers` pairs each storage with
    /// the binding number the entry point declares for it (an entry point's
    /// layout holds only the bindings it uses).
    pub fn dispatch(
        &self,
        kernel: &Rc<Kernel>,
        params: &[u32],
        buffers: &[(u32, &Storage)],
        groups: [u32; 3],
    ) {
        self.record_dispatch(kernel, params, buffers, Vec::new(), groups);
    }

    /// [`Gpu::dispatch`] with texture bindings as well ([`Bindings`]).
    pub fn dispatch_bound(
        &self,
        kernel: &Rc<Kernel>,
        params: &[u32],
        bindings: &Bindings,
        groups: [u32; 3],
    ) {
        self.record_dispatch(
            kernel,
            params,
            &bindings.buffers,
            bindings.textures.clone(),
            groups,
        );
    }

    fn record_dispatch(
        &self,
        kernel: &Rc<Kernel>,
        params: &[u32],
        buffers: &[(u32, &Storage)],
        textures: Vec<(u32, wgpu::TextureView)>,
        groups: [u32; 3],
    ) {
        if groups.contains(&0) {
            return;
        }
        let max = self.limits().max_compute_workgroups_per_dimension;
        assert!(
            groups.iter().all(|&g| g <= max),
            "{}: {groups:?} workgroups exceed the adapter's {max} per dimension",
            kernel.name
        );
        let params = if kernel.has_params {
            let mut arena = self.arena.borrow_mut();
            let offset = (arena.len() as u64).div_ceil(self.uniform_align) * self.uniform_align;
            arena.resize(offset as usize, 0);
            arena.extend_from_slice(bytemuck::cast_slice(params));
            // Uniform blocks are sized in multiples of 16 bytes.
            let size = ((params.len() as u64 * 4).max(16)).div_ceil(16) * 16;
            arena.resize((offset + size) as usize, 0);
            Some((offset, size))
        } else {
            None
        };
        let buffers = buffers
            .iter()
            .map(|(binding, s)| (*binding, s.buffer().clone(), s.bytes.div_ceil(4) * 4))
            .collect();
        self.pending.borrow_mut().push(Command::Dispatch {
            kernel: kernel.clone(),
            params,
            buffers,
            textures,
            groups,
        });
        self.bump(|s| s.dispatches += 1);
    }

    /// Workgroup counts covering `n` invocations of a one-dimensional kernel
    /// with workgroup size `WG`; beyond the per-dimension limit the rest
    /// spills into y (kernels index with `gid.x + gid.y * nwg.x * WG`).
    pub fn groups_1d(&self, n: usize) -> [u32; 3] {
        let groups = (n as u64).div_ceil(WG as u64);
        let max = self.limits().max_compute_workgroups_per_dimension as u64;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            let y = groups.div_ceil(max);
            [groups.div_ceil(y) as u32, y as u32, 1]
        }
    }

    /// Start collecting per-kernel GPU time (needs timestamp queries).
    /// Returns false when the adapter has none.
    pub fn start_profile(&self) -> bool {
        if !self.summary.timestamps {
            return false;
        }
        self.flush();
        *self.profile.borrow_mut() = Some(profile::KernelProfile::default());
        true
    }

    /// Stop collecting and return what was measured.
    pub fn stop_profile(&self) -> Option<profile::KernelProfile> {
        self.sync();
        self.profile.borrow_mut().take()
    }

    /// Number of recorded commands not yet submitted.
    pub fn pending_len(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Encode everything recorded so far into one command buffer and submit it.
    pub fn flush(&self) {
        let cmds = std::mem::take(&mut *self.pending.borrow_mut());
        if cmds.is_empty() {
            return;
        }
        let arena = std::mem::take(&mut *self.arena.borrow_mut());
        let uniform = if arena.is_empty() {
            None
        } else {
            let b = self.raw_buffer(UNIFORM_USAGE, arena.len() as u64);
            self.queue.write_buffer(&b, 0, &arena);
            Some(b)
        };
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        let profiling = self.profile.borrow().is_some();
        // Two timestamps per dispatch when profiling.
        let mut timed: Vec<(String, wgpu::QuerySet, u32)> = Vec::new();
        let mut i = 0;
        while i < cmds.len() {
            match &cmds[i] {
                Command::Dispatch { .. } if profiling => {
                    let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: None,
                        ty: wgpu::QueryType::Timestamp,
                        count: 2,
                    });
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &set,
                            beginning_of_pass_write_index: Some(0),
                            end_of_pass_write_index: Some(1),
                        }),
                    });
                    let name = self.encode_dispatch(&mut pass, &cmds[i], uniform.as_ref());
                    drop(pass);
                    timed.push((name, set, 2));
                    i += 1;
                }
                Command::Dispatch { .. } => {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: None,
                    });
                    while let Some(cmd @ Command::Dispatch { .. }) = cmds.get(i) {
                        self.encode_dispatch(&mut pass, cmd, uniform.as_ref());
                        i += 1;
                    }
                }
                Command::Copy {
                    src,
                    src_offset,
                    dst,
                    dst_offset,
                    bytes,
                } => {
                    encoder.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *bytes);
                    i += 1;
                }
                Command::Clear { buffer, bytes } => {
                    encoder.clear_buffer(buffer, 0, Some(*bytes));
                    i += 1;
                }
                Command::CopyToTexture {
                    src,
                    texture,
                    full_rows,
                    tail,
                } => {
                    let texel_copy =
                        |encoder: &mut wgpu::CommandEncoder, row: u32, width: u32, height: u32| {
                            encoder.copy_buffer_to_texture(
                                wgpu::TexelCopyBufferInfo {
                                    buffer: src,
                                    layout: wgpu::TexelCopyBufferLayout {
                                        offset: row as u64 * TEXTURE_ROW as u64 * 16,
                                        bytes_per_row: Some(TEXTURE_ROW * 16),
                                        rows_per_image: Some(height),
                                    },
                                },
                                wgpu::TexelCopyTextureInfo {
                                    texture,
                                    mip_level: 0,
                                    origin: wgpu::Origin3d { x: 0, y: row, z: 0 },
                                    aspect: wgpu::TextureAspect::All,
                                },
                                wgpu::Extent3d {
                                    width,
                                    height,
                                    depth_or_array_layers: 1,
                                },
                            );
                        };
                    if *full_rows > 0 {
                        texel_copy(&mut encoder, 0, TEXTURE_ROW, *full_rows);
                    }
                    if *tail > 0 {
                        texel_copy(&mut encoder, *full_rows, *tail, 1);
                    }
                    i += 1;
                }
            }
        }
        let resolved = if timed.is_empty() {
            None
        } else {
            // Each resolve lands at a 256-byte aligned offset (wgpu's rule).
            let stride = wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT;
            let bytes = timed.len() as u64 * stride;
            let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            for (k, (_, set, n)) in timed.iter().enumerate() {
                encoder.resolve_query_set(set, 0..*n, &resolve, k as u64 * stride);
            }
            let read = self.raw_buffer(READBACK_USAGE, bytes);
            encoder.copy_buffer_to_buffer(&resolve, 0, &read, 0, bytes);
            Some((read, bytes))
        };
        self.queue.submit([encoder.finish()]);
        if let Some(u) = uniform {
            // Safe to reuse at once: a later write_buffer is ordered after this submit.
            self.pool.borrow_mut().give(u);
        }
        self.bump(|s| s.submits += 1);
        if let Some((read, bytes)) = resolved {
            read.map_async(wgpu::MapMode::Read, 0..bytes, |r| {
                r.expect("mapping timestamps")
            });
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .expect("device lost while profiling");
            let ticks: Vec<u64> =
                bytemuck::pod_collect_to_vec(&read.get_mapped_range(0..bytes).expect("mapped"));
            read.unmap();
            self.pool.borrow_mut().give(read);
            let period = self.queue.get_timestamp_period() as f64;
            let mut prof = self.profile.borrow_mut();
            let prof = prof.as_mut().expect("profiling");
            let stride = (wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT / 8) as usize;
            for (k, (name, _, _)) in timed.iter().enumerate() {
                let ns = ticks[k * stride + 1].saturating_sub(ticks[k * stride]) as f64 * period;
                prof.add(name, ns);
            }
        }
    }

    /// Encode one dispatch command into a pass; returns the kernel's name.
    fn encode_dispatch(
        &self,
        pass: &mut wgpu::ComputePass,
        cmd: &Command,
        uniform: Option<&wgpu::Buffer>,
    ) -> String {
        let Command::Dispatch {
            kernel,
            params,
            buffers,
            textures,
            groups,
        } = cmd
        else {
            unreachable!("encode_dispatch takes dispatches only")
        };
        let bind = self.bind_group(kernel, *params, buffers, textures, uniform);
        pass.set_pipeline(&kernel.pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        kernel.name.clone()
    }

    fn bind_group(
        &self,
        kernel: &Kernel,
        params: Option<(u64, u64)>,
        buffers: &[(u32, wgpu::Buffer, u64)],
        textures: &[(u32, wgpu::TextureView)],
        uniform: Option<&wgpu::Buffer>,
    ) -> wgpu::BindGroup {
        let mut entries = Vec::with_capacity(buffers.len() + 1);
        if let (Some((offset, size)), Some(u)) = (params, uniform) {
            entries.push(wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: u,
                    offset,
                    size: std::num::NonZeroU64::new(size),
                }),
            });
        }
        for (binding, b, bytes) in buffers {
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b,
                    offset: 0,
                    size: std::num::NonZeroU64::new(*bytes),
                }),
            });
        }
        for (binding, view) in textures {
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: wgpu::BindingResource::TextureView(view),
            });
        }
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &kernel.layout,
            entries: &entries,
        })
    }

    /// Submit pending work and wait until the device is idle.
    pub fn sync(&self) {
        self.flush();
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("device lost while waiting");
    }

    /// Read the used bytes of several storages in one round trip.
    pub fn read_bytes(&self, storages: &[&Storage]) -> Vec<Vec<u8>> {
        let staging: Vec<(wgpu::Buffer, u64)> = storages
            .iter()
            .map(|s| {
                let bytes = s.bytes.div_ceil(4) * 4;
                let b = self.raw_buffer(READBACK_USAGE, bytes);
                self.pending.borrow_mut().push(Command::Copy {
                    src: s.buffer().clone(),
                    src_offset: 0,
                    dst: b.clone(),
                    dst_offset: 0,
                    bytes,
                });
                (b, s.bytes)
            })
            .collect();
        self.flush();
        for (b, bytes) in &staging {
            b.map_async(wgpu::MapMode::Read, 0..bytes.div_ceil(4) * 4, |r| {
                r.expect("mapping a readback buffer failed")
            });
        }
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("device lost while reading back");
        self.bump(|s| s.readbacks += 1);
        staging
            .into_iter()
            .map(|(b, bytes)| {
                let out = {
                    let view = b
                        .get_mapped_range(0..bytes.div_ceil(4) * 4)
                        .expect("readback buffer mapped");
                    view[..bytes as usize].to_vec()
                };
                b.unmap();
                self.pool.borrow_mut().give(b);
                out
            })
            .collect()
    }
}
