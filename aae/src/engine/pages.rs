//! Where the backlog's tables live: in pages of their own, not in Kea's heap.
//!
//! The backlog is a burst: tens of thousands of addresses while a sink is
//! slow or down, then nothing. Had its tables come from `malloc` on Kea's
//! packet thread, they would sit in Kea's own heap between Kea's lease
//! objects, and glibc could not give their pages back once the burst had
//! drained: Kea's RSS would keep the peak for good (measured: +8 MiB after
//! a 40k-address backlog, +5 MiB even after `malloc_trim`). So every large
//! table is its own anonymous mapping, unmapped when the table is dropped,
//! and a drained backlog costs no memory. Small tables, which a quiet queue
//! keeps, stay with `malloc`: a page each would waste more than it saves.

use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global};

/// Allocations of at least this many bytes get a mapping of their own.
const MAP_FROM: usize = 16 * 1024;

/// What `mmap` guarantees, and more than any table here needs.
const PAGE: usize = 4096;

/// The allocator of the backlog's tables. Zero-sized and stateless: each
/// allocation decides by its size alone, and `deallocate` gets that size back.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Pages;

fn mapped(layout: Layout) -> bool {
    layout.size() >= MAP_FROM && layout.align() <= PAGE
}

fn mapping_len(layout: Layout) -> usize {
    layout.size().next_multiple_of(PAGE)
}

// SAFETY: a block from `allocate` stays valid until `deallocate`, whether it
// came from `Global` or from `mmap`; both choices depend only on the layout,
// which callers must pass back unchanged.
unsafe impl Allocator for Pages {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if !mapped(layout) {
            return Global.allocate(layout);
        }
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapping_len(layout),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(AllocError);
        }
        let p = NonNull::new(p.cast::<u8>()).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if !mapped(layout) {
            // SAFETY: `allocate` took it from `Global` for this same layout.
            return unsafe { Global.deallocate(ptr, layout) };
        }
        // SAFETY: the whole mapping `allocate` made for this layout. munmap
        // only fails for a bad range, which that cannot be.
        unsafe {
            libc::munmap(ptr.as_ptr().cast(), mapping_len(layout));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn small_blocks_use_malloc_and_large_ones_are_given_back() {
        let mut small: allocator_api2::vec::Vec<u64, Pages> =
            allocator_api2::vec::Vec::with_capacity_in(16, Pages);
        small.extend(0..16);
        assert_eq!(small.iter().sum::<u64>(), 120);

        // 2000 tables of 20 KiB, each followed by a small block that stays
        // (as Kea's leases stay between the backlog's allocations): once the
        // tables are dropped, their pages must leave the process, which in
        // malloc's heap, pinned by the small blocks, they would not.
        let mut tables = Vec::new();
        let mut kept = Vec::new();
        for i in 0..2000u32 {
            let mut t: allocator_api2::vec::Vec<u8, Pages> =
                allocator_api2::vec::Vec::with_capacity_in(20 << 10, Pages);
            t.resize(20 << 10, i as u8);
            tables.push(t);
            kept.push(Box::new([i; 16]));
        }
        let with = resident_kib();
        drop(tables);
        let without = resident_kib();
        assert!(
            with.saturating_sub(without) >= 30 << 10,
            "RSS {with} KiB -> {without} KiB after dropping 40 MiB of tables"
        );
        assert_eq!(
            kept.iter().map(|b| u64::from(b[15])).sum::<u64>(),
            1999 * 1000
        );
    }
}
