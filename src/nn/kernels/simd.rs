//! Vectorised loops at the CPU's width, chosen at run time.
//!
//! The crate is built for the baseline x86-64 CPU (SSE2: 4 floats per
//! vector), so that one binary runs anywhere. `simd_dispatch!` compiles a
//! loop twice more, with AVX2 and FMA (8 floats) and with AVX-512 (16
//! floats), and runs the widest copy the CPU has.
//!
//! Every copy gives the same numbers, bit for bit: the loops fuse their
//! multiply-adds explicitly (`mul_add`), which the AVX2 and AVX-512 copies
//! do in one instruction and the baseline copy through the C library's
//! correctly rounded `fmaf` (slow, but only CPUs from before 2013 lack
//! FMA), and vector width never changes the order of a sum. Fused, these
//! loops issue one instruction where they issued two (the measurements are
//! in `benches/RACE.md`). The tests run every
//! copy the CPU has (`capped_at`) and compare.

/// The copies `simd_dispatch!` compiles, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// The baseline x86-64 CPU (SSE2), or any other architecture.
    Baseline,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512 (the foundation instructions, `avx512f`).
    Avx512,
}

impl SimdLevel {
    /// Every level, narrowest first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512];

    /// The widest level this CPU has.
    pub fn detected() -> SimdLevel {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                return SimdLevel::Avx512;
            }
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                return SimdLevel::Avx2;
            }
        }
        SimdLevel::Baseline
    }

    /// The level a loop runs at on a CPU with `detected`, when no copy
    /// above `ceiling` may run: the narrower of the two.
    pub fn running(detected: SimdLevel, ceiling: SimdLevel) -> SimdLevel {
        detected.min(ceiling)
    }

    /// How the level is named in reports.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Baseline => "baseline (SSE2)",
            SimdLevel::Avx2 => "AVX2+FMA",
            SimdLevel::Avx512 => "AVX-512",
        }
    }

    /// `f32` values per vector register.
    pub fn lanes(self) -> usize {
        match self {
            SimdLevel::Baseline => 4,
            SimdLevel::Avx2 => 8,
            SimdLevel::Avx512 => 16,
        }
    }
}

/// The copy `simd_dispatch!` runs on this thread: the CPU's widest, or in
/// tests no wider than `capped_at` allows.
#[inline]
pub fn level() -> SimdLevel {
    SimdLevel::running(SimdLevel::detected(), ceiling())
}

#[cfg(test)]
thread_local! {
    static CEILING: std::cell::Cell<SimdLevel> = const { std::cell::Cell::new(SimdLevel::Avx512) };
}

#[cfg(test)]
fn ceiling() -> SimdLevel {
    CEILING.with(|ceiling| ceiling.get())
}

#[cfg(not(test))]
#[inline(always)]
fn ceiling() -> SimdLevel {
    SimdLevel::Avx512
}

/// Runs `f` with every `simd_dispatch!` on this thread taking no copy
/// wider than `ceiling`, so that a test can compare the copies.
#[cfg(test)]
pub(crate) fn capped_at<R>(ceiling: SimdLevel, f: impl FnOnce() -> R) -> R {
    let before = CEILING.with(|cell| cell.replace(ceiling));
    let result = f();
    CEILING.with(|cell| cell.set(before));
    result
}

/// Runs `$call` compiled for the widest of AVX-512, AVX2 and the baseline
/// that [`level`] allows. What it calls must be `#[inline(always)]` (or a
/// loop written in place), so that it is compiled into every copy.
macro_rules! simd_dispatch {
    ($call:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            use $crate::nn::kernels::simd::SimdLevel;
            #[target_feature(enable = "avx512f,fma")]
            fn avx512<R>(kernel: impl FnOnce() -> R) -> R {
                kernel()
            }
            #[target_feature(enable = "avx2,fma")]
            fn avx2<R>(kernel: impl FnOnce() -> R) -> R {
                kernel()
            }
            match $crate::nn::kernels::simd::level() {
                // SAFETY: the CPU has AVX-512 and FMA (`level` detected them).
                SimdLevel::Avx512 => unsafe { avx512(|| $call) },
                // SAFETY: the CPU has AVX2 and FMA (`level` detected them).
                SimdLevel::Avx2 => unsafe { avx2(|| $call) },
                SimdLevel::Baseline => $call,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $call
        }
    }};
}
pub(crate) use simd_dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_runs_the_narrower_of_the_cpu_and_the_ceiling() {
        use SimdLevel::*;
        for detected in SimdLevel::ALL {
            for ceiling in SimdLevel::ALL {
                let running = SimdLevel::running(detected, ceiling);
                assert!(running <= detected && running <= ceiling);
                assert!(running == detected || running == ceiling);
            }
        }
        assert_eq!(SimdLevel::running(Avx512, Avx2), Avx2);
        assert_eq!(SimdLevel::running(Avx2, Avx512), Avx2);
        assert_eq!(SimdLevel::running(Baseline, Avx512), Baseline);
    }

    #[test]
    fn the_ceiling_holds_this_thread_and_is_lifted_after() {
        let cpu = SimdLevel::detected();
        for ceiling in SimdLevel::ALL {
            assert_eq!(capped_at(ceiling, level), cpu.min(ceiling));
        }
        assert_eq!(level(), cpu);
    }
}
