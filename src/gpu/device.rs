//! Adapter and device selection.
//!
//! We take any adapter wgpu can give (Vulkan, Metal, DX12), prefer real GPUs
//! over software ones, honour `WGPU_BACKEND`, and fall back to a CPU adapter
//! (Mesa lavapipe) when that is all there is. The device is requested with the
//! adapter's own limits, not wgpu's conservative defaults: kernels need many
//! storage buffers per stage and large bindings.

use crate::error::{Error, Result};

/// How to pick an adapter; every field is optional.
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    /// `vulkan`, `metal`, `dx12` (or a comma list). `None` uses `WGPU_BACKEND`
    /// when set, all native backends otherwise.
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter's name (e.g. `llvmpipe`).
    pub adapter: Option<String>,
}

/// What `nli-wgpu info` prints, and what the engine needs to size its work.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub limits: wgpu::Limits,
    pub timestamps: bool,
    /// Invocations per subgroup, when kernels may use subgroup operations
    /// and the adapter runs every subgroup at one size.
    pub subgroup_size: Option<u32>,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = &self.limits;
        writeln!(f, "adapter:      {}", self.name)?;
        writeln!(f, "backend:      {}", self.backend)?;
        writeln!(f, "device type:  {}", self.device_type)?;
        writeln!(f, "driver:       {} {}", self.driver, self.driver_info)?;
        writeln!(
            f,
            "timestamps:   {}",
            if self.timestamps {
                "yes (GPU timestamp queries)"
            } else {
                "no (benchmarks use synchronised wall time)"
            }
        )?;
        if let Some(n) = self.subgroup_size {
            writeln!(f, "subgroups:    {n} invocations")?;
        }
        writeln!(f, "limits:")?;
        writeln!(
            f,
            "  max_storage_buffer_binding_size      {} MiB",
            l.max_storage_buffer_binding_size >> 20
        )?;
        writeln!(
            f,
            "  max_buffer_size                      {} MiB",
            l.max_buffer_size >> 20
        )?;
        writeln!(
            f,
            "  max_storage_buffers_per_shader_stage {}",
            l.max_storage_buffers_per_shader_stage
        )?;
        writeln!(
            f,
            "  max_compute_workgroups_per_dimension {}",
            l.max_compute_workgroups_per_dimension
        )?;
        writeln!(
            f,
            "  max_compute_invocations_per_workgroup {}",
            l.max_compute_invocations_per_workgroup
        )?;
        writeln!(
            f,
            "  max_compute_workgroup_size           {} x {} x {}",
            l.max_compute_workgroup_size_x,
            l.max_compute_workgroup_size_y,
            l.max_compute_workgroup_size_z
        )?;
        writeln!(
            f,
            "  max_compute_workgroup_storage_size   {} KiB",
            l.max_compute_workgroup_storage_size >> 10
        )?;
        write!(
            f,
            "  min_uniform_buffer_offset_alignment  {}",
            l.min_uniform_buffer_offset_alignment
        )
    }
}

/// An opened device with its queue.
pub struct Device {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
}

const NO_ADAPTER_HELP: &str = "no GPU adapter found (Vulkan, Metal or DX12).\n\
On a machine without a GPU install Mesa's software Vulkan driver (lavapipe):\n    \
sudo apt-get update && sudo apt-get install -y mesa-vulkan-drivers\n\
then check with `vulkaninfo --summary` (package vulkan-tools).";

fn parse_backends(s: &str) -> Result<wgpu::Backends> {
    let mut out = wgpu::Backends::empty();
    for part in s.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        out |= match part.as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "" => continue,
            other => {
                return Err(Error::Config(format!(
                    "unknown backend `{other}`: expected vulkan, metal or dx12"
                )));
            }
        };
    }
    if out.is_empty() {
        return Err(Error::Config("empty backend list".into()));
    }
    Ok(out)
}

/// The backends `opts` allows: the flag, else `WGPU_BACKEND`, else every
/// native backend.
fn backends(opts: &DeviceOptions) -> Result<wgpu::Backends> {
    let native = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    match &opts.backend {
        Some(b) => parse_backends(b),
        None => Ok(wgpu::Backends::from_env().unwrap_or(native)),
    }
}

fn device_type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl Device {
    /// Open the best adapter allowed by `opts`.
    pub fn open(opts: &DeviceOptions) -> Result<Device> {
        let backends = backends(opts)?;
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        // Validation layers off unless the user asks through WGPU_DEBUG / WGPU_VALIDATION.
        desc.flags = wgpu::InstanceFlags::empty().with_env();
        let instance = wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let mut candidates: Vec<wgpu::Adapter> = adapters
            .into_iter()
            .filter(|a| {
                let info = a.get_info();
                match &opts.adapter {
                    Some(want) => info
                        .name
                        .to_ascii_lowercase()
                        .contains(&want.to_ascii_lowercase()),
                    None => true,
                }
            })
            .collect();
        if candidates.is_empty() {
            return Err(match &opts.adapter {
                Some(name) => Error::NoAdapter(format!(
                    "no adapter whose name contains `{name}`; run `nli-wgpu info --all` to list them"
                )),
                None => Error::NoAdapter(NO_ADAPTER_HELP.to_string()),
            });
        }
        // Real GPUs first, software adapters (lavapipe) last.
        candidates.sort_by_key(|a| device_type_rank(a.get_info().device_type));
        let adapter = candidates.swap_remove(0);
        let info = adapter.get_info();
        let limits = adapter.limits();
        let timestamp_features =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        // Subgroup operations when the adapter has them (the matmul shares
        // its reads of R across a subgroup on CPU adapters).
        let features = adapter.features() & (timestamp_features | wgpu::Features::SUBGROUP);
        let timestamps = features.contains(wgpu::Features::TIMESTAMP_QUERY);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("nli-wgpu"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::NoAdapter(format!("adapter {} refused a device: {e}", info.name)))?;
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            limits: device.limits(),
            timestamps,
            subgroup_size: (features.contains(wgpu::Features::SUBGROUP)
                && info.subgroup_min_size == info.subgroup_max_size)
                .then_some(info.subgroup_min_size),
        };
        Ok(Device {
            device,
            queue,
            summary,
        })
    }

    /// Names and types of every adapter visible with `opts.backend`.
    pub fn list_adapters(opts: &DeviceOptions) -> Result<Vec<String>> {
        let backends = backends(opts)?;
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        Ok(adapters
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
            })
            .collect())
    }
}
