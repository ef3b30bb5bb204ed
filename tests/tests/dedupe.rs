//! The dedupe window, on this run's store (in-memory, or Redis).

use std::time::Duration;

use api::ingest::dedupe::{Claim, DedupeWindow, MemoryWindow};
use feed::BodyHash;
use platform::Clock;
use tests::backend;
use tests::ingest::{holder as id, unique_hash};

#[tokio::test]
async fn the_first_claim_wins_and_a_second_is_a_duplicate_with_the_time_left() {
    let window = backend().dedupe_window();
    let hash = unique_hash();
    let length = Duration::from_secs(600);

    let first = window
        .claim(&hash, id(1), length)
        .await
        .expect("the store answers");
    let second = window
        .claim(&hash, id(2), length)
        .await
        .expect("the store answers");

    assert_eq!(first, Claim::Claimed);
    let Claim::Duplicate {
        retry_after,
        holder,
    } = second
    else {
        panic!("expected a duplicate, got {second:?}")
    };
    assert_eq!(holder, Some(id(1)));
    assert!(retry_after <= length, "{retry_after:?}");
    assert!(
        retry_after > length - Duration::from_secs(5),
        "{retry_after:?}"
    );
}

#[tokio::test]
async fn different_bodies_do_not_block_each_other() {
    let window = backend().dedupe_window();
    let length = Duration::from_secs(600);

    let a = window
        .claim(&unique_hash(), id(1), length)
        .await
        .expect("the store answers");
    let b = window
        .claim(&unique_hash(), id(1), length)
        .await
        .expect("the store answers");

    assert_eq!((a, b), (Claim::Claimed, Claim::Claimed));
}

#[tokio::test]
async fn fifty_concurrent_claims_of_one_hash_have_exactly_one_winner() {
    let window = backend().dedupe_window();
    let hash = unique_hash();

    let claims = (0..50).map(|_| window.claim(&hash, id(1), Duration::from_secs(600)));
    let outcomes = futures_util::future::join_all(claims).await;

    let winners = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("the store answers"))
        .filter(|claim| *claim == Claim::Claimed)
        .count();
    assert_eq!(winners, 1);
}

/// The in-memory window on a frozen clock: the boundary is exact.
#[tokio::test]
async fn the_hash_is_claimable_again_exactly_when_the_window_ends_and_rejections_do_not_extend_it()
{
    const SECOND: i64 = 1_000_000;
    let clock = Clock::frozen_at_micros(1_000 * SECOND);
    let window = MemoryWindow::new(clock.clone());
    let length = Duration::from_secs(600);
    assert_eq!(
        window
            .claim(&BodyHash::of(b"feed"), id(1), length)
            .await
            .expect("claim"),
        Claim::Claimed
    );

    clock.set_micros(1_300 * SECOND);
    let halfway = window
        .claim(&BodyHash::of(b"feed"), id(2), length)
        .await
        .expect("claim");
    clock.set_micros(1_600 * SECOND - 1);
    let last_moment = window
        .claim(&BodyHash::of(b"feed"), id(3), length)
        .await
        .expect("claim");
    clock.set_micros(1_600 * SECOND);
    let at_the_end = window
        .claim(&BodyHash::of(b"feed"), id(4), length)
        .await
        .expect("claim");

    assert_eq!(
        halfway,
        Claim::Duplicate {
            retry_after: Duration::from_secs(300),
            holder: Some(id(1)),
        }
    );
    assert_eq!(
        last_moment,
        Claim::Duplicate {
            retry_after: Duration::from_micros(1),
            holder: Some(id(1)),
        }
    );
    assert_eq!(at_the_end, Claim::Claimed);
}

#[tokio::test]
async fn a_released_claim_frees_the_hash_but_only_its_holder_can_release_it() {
    let window = backend().dedupe_window();
    let hash = unique_hash();
    let length = Duration::from_secs(600);
    window.claim(&hash, id(1), length).await.expect("claim");

    window.release(&hash, id(9)).await.expect("release");
    let still_held = window.claim(&hash, id(2), length).await.expect("claim");
    window.release(&hash, id(1)).await.expect("release");
    let freed = window.claim(&hash, id(2), length).await.expect("claim");

    assert!(
        matches!(still_held, Claim::Duplicate { .. }),
        "{still_held:?}"
    );
    assert_eq!(freed, Claim::Claimed);
}
