//! Chaos mode (`PoolBuilder::chaos`): Put drops and Get ignores the pool at
//! random, about one time in four, and nothing is lost or dropped twice;
//! other pools in the same process are unaffected.

mod common;

use common::DropLedger;
use victim_pool::Pool;

#[test]
fn about_a_quarter_of_puts_and_gets_misbehave_and_nothing_leaks() {
    let rounds = common::scaled(20_000);
    let ledger = DropLedger::new(2 * rounds);
    let pool: Pool<common::Counted> = Pool::builder().manual_cleanup().chaos(true).build();
    let calm: Pool<u32> = Pool::builder().manual_cleanup().build();
    for id in 0..2 * rounds {
        pool.put(ledger.item(id));
        calm.put(id as u32);
    }
    let dropped = pool.stats().chaos_drops;
    assert_eq!(calm.stats().chaos_drops, 0, "chaos is per pool");
    // The pool holds ~1.5 x rounds items, so it never runs dry below: every
    // miss is a Get that ignored the pool.
    let got: Vec<_> = (0..rounds).filter_map(|_| pool.try_get()).collect();
    let ignored = pool.stats().misses;
    // Binomial(n, 1/4): far outside +-20% is a broken generator.
    let within = |count: u64, n: usize| {
        let quarter = n as u64 / 4;
        (quarter * 8 / 10..=quarter * 12 / 10).contains(&count)
    };
    assert!(within(dropped, 2 * rounds), "puts dropped: {dropped}");
    assert!(
        within(ignored, rounds),
        "gets that ignored the pool: {ignored}"
    );
    assert_eq!(ledger.total_drops() as u64, dropped);
    drop((got, pool));
    ledger.assert_each_dropped_once();
}
