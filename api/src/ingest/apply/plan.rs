//! What writing some feed items comes to, worked out before the database
//! is touched: items checked against the catalog's rules, the same sku
//! merged as if the items were applied in order, items that bring a
//! product what a feed last applied to it left out, and each job's counts.
//! Pure, so every rule is unit-tested here; [`super::write`] carries the
//! plan out.

use std::collections::HashMap;

use feed::{Field, RawItem};
use uuid::Uuid;

use crate::catalog::store::Upsert;
use crate::catalog::{Description, ProductName, Sku};

/// An item's fields as the catalog takes them, or why it cannot.
pub fn upsert_of(item: &RawItem) -> Result<Upsert, String> {
    let at = format!("items[{}]", item.index);
    let sku = match &item.id {
        Some(Field::String(id) | Field::Number(id)) => {
            Sku::parse(id).map_err(|e| format!("{at}.id: {e}"))?
        }
        Some(Field::TooLong) => return Err(format!("{at}.id is too long for a sku")),
        Some(Field::Other) | None => return Err(format!("{at} has no usable id")),
    };
    let text = |field: &Option<Field>, name: &str| match field {
        None => Ok(None),
        Some(Field::String(text)) => Ok(Some(text.clone())),
        Some(Field::TooLong) => Err(format!("{at}.{name} is too long")),
        Some(Field::Number(_) | Field::Other) => Err(format!("{at}.{name} must be a string")),
    };
    let name = text(&item.name, "name")?
        .map(|name| ProductName::parse(&name).map_err(|e| format!("{at}: {e}")))
        .transpose()?;
    let description = text(&item.description, "description")?
        .map(|text| Description::parse(&text).map_err(|e| format!("{at}: {e}")))
        .transpose()?;
    Ok(Upsert {
        sku,
        name,
        description,
    })
}

/// Items of one job to apply, in a transaction with others.
#[derive(Clone)]
pub struct Part {
    pub job: Uuid,
    /// The job's count as this process last committed it.
    pub processed: i64,
    pub items: Vec<RawItem>,
    /// Whether these are the job's last items: the job is then done.
    pub last: bool,
    /// Set when the database refused these items: they are only counted
    /// as skipped, with this problem.
    pub refused: Option<String>,
    /// Whether the body is spooled: its job then records how far into it
    /// the items reach.
    pub spooled: bool,
}

impl Part {
    /// The first half of the items and the rest, as two parts in a row.
    pub fn halves(mut self) -> (Self, Self) {
        let second_items = self.items.split_off(self.items.len() / 2);
        let first_count = self.items.len() as i64;
        let second = Self {
            job: self.job,
            processed: self.processed + first_count,
            items: second_items,
            last: self.last,
            refused: None,
            spooled: self.spooled,
        };
        let first = Self {
            last: false,
            ..self
        };
        (first, second)
    }
}

/// What a part's items come to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Tally {
    pub created: i64,
    pub updated: i64,
    pub skipped: i64,
    /// Items whose fields a feed last applied to their product: not written.
    pub unchanged: i64,
    /// The first problem among the skipped items.
    pub problem: Option<String>,
}

/// The parts' items merged by sku, and what each part comes to.
#[derive(Debug)]
pub struct Plan {
    /// Skus in order of first appearance, each with its merged fields.
    pub upserts: Vec<Upsert>,
    /// Per part, in order. Skus a part brought in first are counted by
    /// [`Plan::settle`], once the catalog has said which it has and what
    /// feeds last applied to them.
    pub tallies: Vec<Tally>,
    /// Per part: the positions in `upserts` of the skus it brought in first.
    introduced: Vec<Vec<usize>>,
}

/// Plans the parts' items, in order. An item the catalog cannot take is
/// skipped and counted; a refused part's items are all skipped.
pub fn plan(parts: &[Part]) -> Plan {
    let mut upserts: Vec<Upsert> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut tallies = Vec::with_capacity(parts.len());
    let mut introduced = Vec::with_capacity(parts.len());
    for part in parts {
        let mut tally = Tally::default();
        let mut first_seen = Vec::new();
        if let Some(reason) = &part.refused {
            tally.skipped = part.items.len() as i64;
            tally.problem = Some(reason.clone());
            tallies.push(tally);
            introduced.push(first_seen);
            continue;
        }
        for item in &part.items {
            match upsert_of(item) {
                // The same sku again: as if applied in order, the later
                // item's fields win and the ones it leaves out stay.
                Ok(upsert) => match position.get(upsert.sku.as_str()) {
                    Some(&at) => {
                        let earlier = &mut upserts[at];
                        earlier.name = upsert.name.or(earlier.name.take());
                        earlier.description = upsert.description.or(earlier.description.take());
                        tally.updated += 1;
                    }
                    None => {
                        position.insert(upsert.sku.as_str().to_owned(), upserts.len());
                        first_seen.push(upserts.len());
                        upserts.push(upsert);
                    }
                },
                Err(reason) => {
                    tally.skipped += 1;
                    tally.problem.get_or_insert(reason);
                }
            }
        }
        tallies.push(tally);
        introduced.push(first_seen);
    }
    Plan {
        upserts,
        tallies,
        introduced,
    }
}

impl Plan {
    /// Counts each sku a part brought in first against what the catalog
    /// said it must write (`to_write`: each such sku, with whether the
    /// catalog has it): created if it is new, updated if it changed,
    /// unchanged if it is not there (its fingerprint is the one kept).
    /// The unchanged ones are taken out of `upserts`: they are not
    /// written. Called once.
    pub fn settle(&mut self, to_write: &HashMap<String, bool>) {
        let written: Vec<Option<bool>> = self
            .upserts
            .iter()
            .map(|upsert| to_write.get(upsert.sku.as_str()).copied())
            .collect();
        for (tally, first_seen) in self.tallies.iter_mut().zip(&self.introduced) {
            for &at in first_seen {
                match written[at] {
                    None => tally.unchanged += 1,
                    Some(true) => tally.updated += 1,
                    Some(false) => tally.created += 1,
                }
            }
        }
        let mut written = written.into_iter();
        self.upserts.retain(|_| written.next().flatten().is_some());
        self.introduced.clear();
    }
}

/// How one job's row moves: from `processed` on by `count` items, with
/// `tally` added, to `applied_bytes` of a spooled body, and done if `last`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Move {
    pub processed: i64,
    pub count: i64,
    pub last: bool,
    pub tally: Tally,
    pub applied_bytes: Option<i64>,
}

/// The jobs of `parts` by how their rows move: jobs that move alike share
/// one `UPDATE`, so a group of one-item feeds needs two or three
/// statements, not one per feed.
pub fn moves(parts: &[Part], tallies: Vec<Tally>) -> HashMap<Move, Vec<Uuid>> {
    let mut alike: HashMap<Move, Vec<Uuid>> = HashMap::new();
    for (part, tally) in parts.iter().zip(tallies) {
        let applied_bytes = part
            .items
            .last()
            .filter(|_| part.spooled)
            .map(|item| i64::try_from(item.end).unwrap_or(i64::MAX));
        let key = Move {
            processed: part.processed,
            count: part.items.len() as i64,
            last: part.last,
            tally,
            applied_bytes,
        };
        alike.entry(key).or_default().push(part.job);
    }
    alike
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> Option<Field> {
        Some(Field::String(value.to_owned()))
    }

    fn item(
        index: u64,
        id: Option<Field>,
        name: Option<Field>,
        description: Option<Field>,
    ) -> RawItem {
        RawItem {
            index,
            end: 0,
            id,
            name,
            description,
        }
    }

    fn part(job: Uuid, items: Vec<RawItem>) -> Part {
        Part {
            job,
            processed: 0,
            items,
            last: true,
            refused: None,
            spooled: false,
        }
    }

    fn names(plan: &Plan) -> Vec<(&str, Option<String>, Option<String>)> {
        plan.upserts
            .iter()
            .map(|u| {
                (
                    u.sku.as_str(),
                    u.name.clone().map(ProductName::into_inner),
                    u.description.clone().map(Description::into_inner),
                )
            })
            .collect()
    }

    #[test]
    fn the_same_sku_merges_as_if_applied_in_order() {
        let items = vec![
            item(0, text("a"), text("First"), text("kept")),
            item(1, text("b"), None, None),
            item(2, text("a"), text("Second"), None),
        ];

        let plan = plan(&[part(Uuid::nil(), items)]);

        assert_eq!(
            names(&plan),
            vec![
                ("a", Some("Second".into()), Some("kept".into())),
                ("b", None, None)
            ]
        );
        // The second `a` is an update of the first, whatever the catalog has.
        assert_eq!(plan.tallies[0].updated, 1);
    }

    #[test]
    fn new_skus_are_created_and_known_ones_updated_once_settled() {
        let (one, two) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let parts = [
            part(
                one,
                vec![
                    item(0, text("a"), None, None),
                    item(1, text("b"), None, None),
                ],
            ),
            part(
                two,
                vec![
                    item(0, text("b"), None, None),
                    item(1, text("c"), None, None),
                ],
            ),
        ];
        let mut plan = plan(&parts);

        // `a` is known and changed; `b` and `c` are new.
        plan.settle(&HashMap::from([
            ("a".to_owned(), true),
            ("b".to_owned(), false),
            ("c".to_owned(), false),
        ]));

        let counts: Vec<(i64, i64, i64)> = plan
            .tallies
            .iter()
            .map(|t| (t.created, t.updated, t.skipped))
            .collect();
        // One: `a` is known, `b` new. Two: `b` came first in one, `c` new.
        assert_eq!(counts, vec![(1, 1, 0), (1, 1, 0)]);
    }

    #[test]
    fn items_the_catalog_need_not_write_are_unchanged_and_taken_out() {
        let items = vec![
            item(0, text("same"), text("Mower"), None),
            item(1, text("renamed"), text("New name"), None),
            item(2, text("fresh"), None, None),
        ];
        let mut plan = plan(&[part(Uuid::nil(), items)]);

        plan.settle(&HashMap::from([
            ("renamed".to_owned(), true),
            ("fresh".to_owned(), false),
        ]));

        let tally = &plan.tallies[0];
        assert_eq!((tally.created, tally.updated, tally.unchanged), (1, 1, 1));
        let written: Vec<&str> = plan.upserts.iter().map(|u| u.sku.as_str()).collect();
        assert_eq!(written, vec!["renamed", "fresh"]);
    }

    #[test]
    fn a_left_out_field_and_an_empty_one_are_told_apart() {
        let left_out = upsert_of(&item(0, text("a"), None, None)).expect("a valid item");
        let empty = upsert_of(&item(0, text("a"), None, text(""))).expect("a valid item");
        let swapped = upsert_of(&item(0, text("a"), text("x"), None)).expect("a valid item");
        let other_field = upsert_of(&item(0, text("a"), None, text("x"))).expect("a valid item");

        assert_ne!(left_out.fingerprint(), empty.fingerprint());
        assert_ne!(swapped.fingerprint(), other_field.fingerprint());
        assert_eq!(
            left_out.fingerprint(),
            upsert_of(&item(9, text("a"), None, None))
                .expect("a valid item")
                .fingerprint()
        );
    }

    #[test]
    fn items_the_catalog_refuses_are_skipped_with_the_first_problem() {
        let items = vec![
            item(0, None, text("no id"), None),
            item(1, text("bad sku!"), None, None),
            item(2, text("ok"), Some(Field::Number("7".into())), None),
            item(3, text("fine"), text("Fine"), None),
            item(4, Some(Field::TooLong), None, None),
        ];

        let plan = plan(&[part(Uuid::nil(), items)]);

        let tally = &plan.tallies[0];
        assert_eq!(tally.skipped, 4);
        assert_eq!(tally.problem.as_deref(), Some("items[0] has no usable id"));
        assert_eq!(names(&plan), vec![("fine", Some("Fine".into()), None)]);
    }

    #[test]
    fn numbers_are_skus_and_names_are_trimmed() {
        let items = vec![item(
            0,
            Some(Field::Number("12".into())),
            text("  Mower "),
            None,
        )];

        let plan = plan(&[part(Uuid::nil(), items)]);

        assert_eq!(names(&plan), vec![("12", Some("Mower".into()), None)]);
    }

    #[test]
    fn a_refused_part_is_all_skipped_and_brings_nothing_in() {
        let mut refused = part(Uuid::nil(), vec![item(0, text("a"), None, None); 3]);
        refused.refused = Some("items[0]: the database refused it".into());

        let plan = plan(&[refused]);

        assert!(plan.upserts.is_empty());
        assert_eq!(plan.tallies[0].skipped, 3);
        assert_eq!(
            plan.tallies[0].problem.as_deref(),
            Some("items[0]: the database refused it")
        );
    }

    #[test]
    fn halves_follow_each_other_and_only_the_second_may_end_the_job() {
        let items = (0..5).map(|i| item(i, text("a"), None, None)).collect();
        let whole = Part {
            processed: 10,
            ..part(Uuid::nil(), items)
        };

        let (first, second) = whole.halves();

        assert_eq!(
            (first.processed, first.items.len(), first.last),
            (10, 2, false)
        );
        assert_eq!(
            (second.processed, second.items.len(), second.last),
            (12, 3, true)
        );
    }

    #[test]
    fn jobs_that_move_alike_share_one_move() {
        let parts: Vec<Part> = (0..3)
            .map(|i| part(Uuid::from_u128(i), vec![item(0, text("a"), None, None)]))
            .collect();
        let mut tallies = vec![Tally::default(); 3];
        tallies[2].skipped = 1;

        let moves = moves(&parts, tallies);

        let mut sizes: Vec<usize> = moves.values().map(Vec::len).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, vec![1, 2]);
    }
}
