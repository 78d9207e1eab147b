//! Sorting and de-duplicating the few pattern values one text matches (about 11 on a 460k-query
//! dictionary): a comparison sort of so few values is mostly mispredicted branches.
//!
//! Up to 16 values on a CPU with AVX-512 are placed without a branch on the values: one register
//! holds them all, the conflict-detection instruction marks the copies of earlier values, each
//! value's place is the number of distinct values below it (one compare per value), and a scatter
//! writes every value to its place (a copy lands where its first occurrence does). Other lengths
//! and other CPUs take the standard library's sort.

/// `values` ascending, each once, into `out` (replacing what it held).
#[inline]
pub(crate) fn sort_unique_into(values: &[u32], out: &mut Vec<u32>) {
    out.clear();
    #[cfg(target_arch = "x86_64")]
    if values.len() <= 16
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512cd")
    {
        // SAFETY: the CPU has the features the function is compiled for (checked above).
        unsafe { avx512::sort_unique_16(values, out) };
        return;
    }
    out.extend_from_slice(values);
    out.sort_unstable();
    out.dedup();
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// [`super::sort_unique_into`] of at most 16 values, into the empty `out`.
    #[target_feature(enable = "avx512f,avx512cd")]
    pub(super) fn sort_unique_16(values: &[u32], out: &mut Vec<u32>) {
        let n = values.len();
        debug_assert!(n <= 16);
        let live: __mmask16 = ((1u32 << n) - 1) as u16;
        // SAFETY: the masked load reads only the `n` live lanes, all within `values`.
        let v = unsafe { _mm512_maskz_loadu_epi32(live, values.as_ptr().cast::<i32>()) };
        // A lane is a first occurrence when no earlier lane holds its value.
        let first = _mm512_mask_cmpeq_epi32_mask(live, _mm512_conflict_epi32(v), _mm512_setzero_si512());
        let mut place = _mm512_setzero_si512();
        let one = _mm512_set1_epi32(1);
        let mut lanes = [0u32; 16];
        // SAFETY: `lanes` holds 16 u32, one 64-byte store.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v) };
        let mut rest = first;
        while rest != 0 {
            let lane = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            // Every live lane whose value exceeds this distinct value moves one place up.
            let above = _mm512_mask_cmpgt_epu32_mask(live, v, _mm512_set1_epi32(lanes[lane] as i32));
            place = _mm512_mask_add_epi32(place, above, place, one);
        }
        out.reserve(16);
        let unique = first.count_ones() as usize;
        // SAFETY: every live lane's place is below the number of distinct values (≤ 16 ≤ the
        // capacity reserved), so each write lands in `out`'s buffer; copies write their first
        // occurrence's value to its place, so the first `unique` slots are all written.
        unsafe {
            _mm512_mask_i32scatter_epi32::<4>(out.as_mut_ptr().cast(), live, place, v);
            out.set_len(unique);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(values: &[u32]) -> Vec<u32> {
        let mut expected = values.to_vec();
        expected.sort_unstable();
        expected.dedup();
        expected
    }

    #[test]
    fn edge_cases() {
        for case in [
            vec![],
            vec![5],
            vec![5, 5],
            vec![u32::MAX, 0, u32::MAX, 1],
            (0..16).rev().collect(),
            vec![3; 16],
            (0..17).collect(),
        ] {
            let mut got = vec![42];
            sort_unique_into(&case, &mut got);
            assert_eq!(got, reference(&case), "{case:?}");
        }
    }

    proptest! {
        #[test]
        fn equals_sort_then_dedup(values in proptest::collection::vec(prop_oneof![0u32..8, any::<u32>()], 0..24)) {
            let mut got = Vec::new();
            sort_unique_into(&values, &mut got);
            prop_assert_eq!(got, reference(&values));
        }
    }
}
