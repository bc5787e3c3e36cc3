//! Software prefetch of captured bytes: walking a capture and decoding its frames is bound
//! by the first touch of each frame's memory, which a hint issued a few frames ahead hides.

/// Asks the CPU to load `lines` cache lines of `bytes` from `at` on (nothing past its end).
/// A hint only: it never faults and changes no memory; elsewhere than x86_64 it does nothing.
#[inline]
pub fn prefetch(bytes: &[u8], at: usize, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in 0..lines {
        if let Some(byte) = bytes.get(at + line * 64) {
            let address = std::ptr::from_ref(byte).cast();
            // SAFETY: SSE is part of x86_64; a prefetch never faults and changes no memory,
            // here of an address inside `bytes`.
            unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(address) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at, lines);
}
