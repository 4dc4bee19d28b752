//! Which backups to keep: restic's `forget` semantics, pure. Backups are walked newest first;
//! each rule (`last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`) keeps the newest
//! backup of each of its next N buckets (buckets in UTC, weeks ISO 8601); the rules are OR'ed.
//! The newest backup is always kept, and an empty policy is refused. On top of the policy, a
//! backup labelled `pre-migrate` (the one `migrate` takes before it changes anything) is kept
//! for [`PRE_MIGRATE_DAYS`] days: the window in which `rollback --from-backup` can use it.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The label of the backup `migrate` takes before it changes anything.
pub const PRE_MIGRATE_LABEL: &str = "pre-migrate";

/// How long a `pre-migrate` backup is kept whatever the policy says.
pub const PRE_MIGRATE_DAYS: i64 = 30;

/// Whether `name` is one of our archives labelled `pre-migrate`.
fn is_pre_migrate(name: &str) -> bool {
    super::names::ArchiveName::parse(name).is_some_and(|n| n.label.as_deref() == Some(PRE_MIGRATE_LABEL))
}

/// How many buckets each rule keeps (0 = rule off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
}

impl Policy {
    /// The documented default: 24 hourly, 7 daily, 4 weekly, 12 monthly.
    pub const DEFAULT: Policy = Policy { last: 0, hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 0 };

    pub fn is_empty(&self) -> bool {
        self.rules().iter().all(|(_, n)| *n == 0)
    }

    fn rules(&self) -> [(Rule, u32); 6] {
        [
            (Rule::Last, self.last),
            (Rule::Hourly, self.hourly),
            (Rule::Daily, self.daily),
            (Rule::Weekly, self.weekly),
            (Rule::Monthly, self.monthly),
            (Rule::Yearly, self.yearly),
        ]
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> =
            self.rules().iter().filter(|(_, n)| *n > 0).map(|(r, n)| format!("{} {n}", r.name())).collect();
        f.write_str(&parts.join(", "))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Last => "last",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }

    /// The bucket a time falls into; `Last` puts every backup in a bucket of its own.
    fn bucket(self, t: DateTime<Utc>, index: usize) -> (i64, i64) {
        match self {
            Rule::Last => (index as i64, 0),
            Rule::Hourly => (t.num_days_from_ce() as i64, t.hour() as i64),
            Rule::Daily => (t.num_days_from_ce() as i64, 0),
            Rule::Weekly => {
                let w = t.iso_week();
                (w.year() as i64, w.week() as i64)
            }
            Rule::Monthly => (t.year() as i64, t.month() as i64),
            Rule::Yearly => (t.year() as i64, 0),
        }
    }

    fn reason(self, t: DateTime<Utc>) -> String {
        match self {
            Rule::Last => "last".into(),
            Rule::Hourly => format!("hourly {}", t.format("%Y-%m-%d %H:00Z")),
            Rule::Daily => format!("daily {}", t.format("%Y-%m-%d")),
            Rule::Weekly => {
                let w = t.iso_week();
                format!("weekly {}-W{:02}", w.year(), w.week())
            }
            Rule::Monthly => format!("monthly {}", t.format("%Y-%m")),
            Rule::Yearly => format!("yearly {}", t.format("%Y")),
        }
    }
}

/// One backup as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub time: DateTime<Utc>,
    /// Orders backups made in the same second.
    pub seq: u32,
}

/// The verdict on one backup, with the rules that keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub item: Item,
    pub keep: bool,
    pub reasons: Vec<String>,
    /// Dated after `now` (a clock that was wrong): kept or not by the same rules, but said.
    pub future: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct EmptyPolicy;

impl std::fmt::Display for EmptyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the retention policy keeps nothing; give at least one --keep-* flag a value above 0")
    }
}

/// Decides for every backup, newest first.
pub fn plan(items: &[Item], policy: &Policy, now: DateTime<Utc>) -> Result<Vec<Decision>, EmptyPolicy> {
    if policy.is_empty() {
        return Err(EmptyPolicy);
    }
    let mut sorted: Vec<Item> = items.to_vec();
    sorted.sort_by(|a, b| (b.time, b.seq, &b.name).cmp(&(a.time, a.seq, &a.name)));
    type Bucket = (i64, i64);
    let mut rules: Vec<(Rule, u32, Option<Bucket>)> =
        policy.rules().into_iter().filter(|(_, n)| *n > 0).map(|(r, n)| (r, n, None)).collect();
    let mut out = Vec::with_capacity(sorted.len());
    for (index, item) in sorted.into_iter().enumerate() {
        let mut reasons = Vec::new();
        for (rule, left, last) in rules.iter_mut() {
            if *left == 0 {
                continue;
            }
            let bucket = rule.bucket(item.time, index);
            if *last != Some(bucket) {
                *last = Some(bucket);
                *left -= 1;
                reasons.push(rule.reason(item.time));
            }
        }
        if is_pre_migrate(&item.name) && now - item.time < chrono::Duration::days(PRE_MIGRATE_DAYS) {
            reasons.push(format!("pre-migrate, kept {PRE_MIGRATE_DAYS} days"));
        }
        if index == 0 && reasons.is_empty() {
            reasons.push("newest".into());
        }
        let future = item.time > now;
        out.push(Decision { keep: !reasons.is_empty(), reasons, future, item });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn item(t: DateTime<Utc>) -> Item {
        Item { name: t.format("%Y%m%dT%H%M%SZ").to_string(), time: t, seq: 1 }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn kept(decisions: &[Decision]) -> Vec<String> {
        decisions.iter().filter(|d| d.keep).map(|d| d.item.name.clone()).collect()
    }

    #[test]
    fn empty_policy_is_refused() {
        assert_eq!(plan(&[], &Policy::default(), Utc::now()), Err(EmptyPolicy));
    }

    #[test]
    fn restic_example_hourly_then_daily() {
        // Backups every 30 minutes over two days; keep 3 hourly and 2 daily.
        let start = utc("2026-01-10T00:00:00Z");
        let items: Vec<Item> = (0..96).map(|i| item(start + chrono::Duration::minutes(30 * i))).collect();
        let d =
            plan(&items, &Policy { hourly: 3, daily: 2, ..Default::default() }, utc("2026-01-12T00:00:00Z")).unwrap();
        // Newest of the last three hours: 23:30, 22:30, 21:30 on the 11th; daily: newest of
        // the 11th (23:30, already kept) and of the 10th (23:30).
        assert_eq!(kept(&d), ["20260111T233000Z", "20260111T223000Z", "20260111T213000Z", "20260110T233000Z"]);
        assert_eq!(d[0].reasons, ["hourly 2026-01-11 23:00Z", "daily 2026-01-11"]);
        assert_eq!(d.iter().filter(|d| !d.keep).count(), 92);
    }

    #[test]
    fn weekly_monthly_yearly_buckets() {
        // 2026-01-04 is a Sunday (ISO week 2026-W01); 2026-01-05 a Monday (W02).
        let items = [
            "2025-12-31T12:00:00Z",
            "2026-01-01T12:00:00Z",
            "2026-01-04T12:00:00Z",
            "2026-01-05T12:00:00Z",
            "2026-02-01T12:00:00Z",
        ]
        .map(|s| item(utc(s)));
        let now = utc("2026-03-01T00:00:00Z");
        let weekly = plan(&items, &Policy { weekly: 2, ..Default::default() }, now).unwrap();
        assert_eq!(kept(&weekly), ["20260201T120000Z", "20260105T120000Z"]);
        let weekly3 = plan(&items, &Policy { weekly: 3, ..Default::default() }, now).unwrap();
        // 2025-12-31 and 2026-01-04 are both in ISO week 2026-W01: the newer one wins.
        assert_eq!(kept(&weekly3), ["20260201T120000Z", "20260105T120000Z", "20260104T120000Z"]);
        assert_eq!(weekly3[2].reasons, ["weekly 2026-W01"]);
        let monthly = plan(&items, &Policy { monthly: 3, ..Default::default() }, now).unwrap();
        assert_eq!(kept(&monthly), ["20260201T120000Z", "20260105T120000Z", "20251231T120000Z"]);
        let yearly = plan(&items, &Policy { yearly: 5, ..Default::default() }, now).unwrap();
        assert_eq!(kept(&yearly), ["20260201T120000Z", "20251231T120000Z"]);
    }

    #[test]
    fn dst_change_in_local_time_does_not_merge_hours() {
        // Europe/Berlin leaves summer time on 2026-10-25 at 01:00Z: local 02:30 happens twice
        // (00:30Z and 01:30Z). Buckets are UTC, so these are two hours, both kept.
        let items = ["2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"]
            .map(|s| item(utc(s)));
        let d = plan(&items, &Policy { hourly: 3, ..Default::default() }, utc("2026-10-25T03:00:00Z")).unwrap();
        assert_eq!(kept(&d), ["20261025T023000Z", "20261025T013000Z", "20261025T003000Z"]);
        // Spring forward (2026-03-29 01:00Z): local 02:00–03:00 does not exist, UTC hours do.
        let items = ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"].map(|s| item(utc(s)));
        let d = plan(&items, &Policy { hourly: 24, ..Default::default() }, utc("2026-03-29T03:00:00Z")).unwrap();
        assert_eq!(kept(&d).len(), 2);
        // Daily buckets are UTC days: 23:30Z on the 24th is another day than 00:30Z on the
        // 25th, although both are the 25th in Berlin.
        let items = ["2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z"].map(|s| item(utc(s)));
        let d = plan(&items, &Policy { daily: 2, ..Default::default() }, utc("2026-10-26T00:00:00Z")).unwrap();
        assert_eq!(kept(&d).len(), 2);
    }

    #[test]
    fn backups_dated_in_the_future_are_flagged_and_sorted_by_their_date() {
        let now = utc("2026-05-01T12:00:00Z");
        let items = ["2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z", "2027-01-01T00:00:00Z"].map(|s| item(utc(s)));
        let d = plan(&items, &Policy { last: 2, ..Default::default() }, now).unwrap();
        assert_eq!(kept(&d), ["20270101T000000Z", "20260501T110000Z"]);
        assert!(d[0].future && !d[1].future && !d[2].future);
        assert!(!d[2].keep);
    }

    #[test]
    fn pre_migrate_backups_are_kept_thirty_days_on_top_of_the_policy() {
        let now = utc("2026-06-30T12:00:00Z");
        let named = |t: &str, label: Option<&str>| {
            let time = utc(t);
            let stamp = time.format("%Y%m%dT%H%M%SZ");
            let name = label.map_or(format!("{stamp}.tar.zst"), |l| format!("{stamp}-{l}.tar.zst"));
            Item { name, time, seq: 1 }
        };
        let items = vec![
            named("2026-06-30T11:00:00Z", None),
            named("2026-06-20T09:00:00Z", Some("pre-migrate")),
            named("2026-06-20T08:00:00Z", None),
            named("2026-05-31T12:00:01Z", Some("pre-migrate")),
            named("2026-05-31T11:59:59Z", Some("pre-migrate")),
            named("2026-06-25T10:00:00Z", Some("pre-deploy")),
        ];
        let d = plan(&items, &Policy { last: 1, ..Default::default() }, now).unwrap();
        // 29 days 23:59:59 old is inside the window, 30 days and a second is not; other
        // labels and unlabelled backups follow the policy alone.
        assert_eq!(
            kept(&d),
            [
                "20260630T110000Z.tar.zst",
                "20260620T090000Z-pre-migrate.tar.zst",
                "20260531T120001Z-pre-migrate.tar.zst"
            ]
        );
        let reasons = &d.iter().find(|x| x.item.name == "20260620T090000Z-pre-migrate.tar.zst").unwrap().reasons;
        assert_eq!(reasons, &["pre-migrate, kept 30 days"]);
        // A rule that keeps it too says so as well.
        let d = plan(&items, &Policy { daily: 30, ..Default::default() }, now).unwrap();
        let r = &d.iter().find(|x| x.item.name == "20260620T090000Z-pre-migrate.tar.zst").unwrap().reasons;
        assert_eq!(r, &["daily 2026-06-20", "pre-migrate, kept 30 days"]);
    }

    #[test]
    fn same_second_backups_are_ordered_by_sequence() {
        let t = utc("2026-05-01T10:00:00Z");
        let items = vec![Item { name: "a".into(), time: t, seq: 1 }, Item { name: "b".into(), time: t, seq: 2 }];
        let d = plan(&items, &Policy { hourly: 1, ..Default::default() }, t).unwrap();
        assert_eq!(kept(&d), ["b"]);
    }

    fn arb_items() -> impl Strategy<Value = Vec<Item>> {
        // Up to 60 backups spread over ~3 years, some in the same second.
        proptest::collection::vec((0i64..100_000_000, 1u32..3), 0..60).prop_map(|v| {
            let base = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
            let mut seen = std::collections::HashSet::new();
            v.into_iter()
                .filter(|k| seen.insert(*k))
                .map(|(secs, seq)| {
                    let time = base + chrono::Duration::seconds(secs);
                    Item { name: format!("{}_{seq}", time.format("%Y%m%dT%H%M%SZ")), time, seq }
                })
                .collect()
        })
    }

    fn arb_policy() -> impl Strategy<Value = Policy> {
        (0u32..5, 0u32..5, 0u32..5, 0u32..4, 0u32..4, 0u32..3)
            .prop_map(|(last, hourly, daily, weekly, monthly, yearly)| Policy {
                last,
                hourly,
                daily,
                weekly,
                monthly,
                yearly,
            })
            .prop_filter("non-empty", |p| !p.is_empty())
    }

    proptest! {
        #[test]
        fn pruning_is_idempotent(items in arb_items(), policy in arb_policy()) {
            let now = Utc::now();
            let first = plan(&items, &policy, now).unwrap();
            let survivors: Vec<Item> = first.iter().filter(|d| d.keep).map(|d| d.item.clone()).collect();
            let second = plan(&survivors, &policy, now).unwrap();
            prop_assert!(second.iter().all(|d| d.keep), "a second prune would delete more");
        }

        #[test]
        fn the_newest_is_always_kept(items in arb_items(), policy in arb_policy()) {
            let d = plan(&items, &policy, Utc::now()).unwrap();
            if let Some(newest) = items.iter().max_by_key(|i| (i.time, i.seq)) {
                prop_assert!(d.iter().any(|x| x.keep && x.item == *newest));
                prop_assert_eq!(&d[0].item, newest);
            }
        }

        #[test]
        fn keep_last_n_keeps_exactly_the_n_newest(items in arb_items(), n in 1u32..20) {
            let d = plan(&items, &Policy { last: n, ..Default::default() }, Utc::now()).unwrap();
            let mut by_age = items.clone();
            by_age.sort_by_key(|i| std::cmp::Reverse((i.time, i.seq)));
            let expected: Vec<String> = by_age.iter().take(n as usize).map(|i| i.name.clone()).collect();
            prop_assert_eq!(kept(&d), expected);
        }

        #[test]
        fn every_backup_gets_a_verdict(items in arb_items(), policy in arb_policy()) {
            let d = plan(&items, &policy, Utc::now()).unwrap();
            prop_assert_eq!(d.len(), items.len());
            prop_assert!(d.iter().all(|x| x.keep != x.reasons.is_empty()));
        }
    }
}
