//! The one writer of the `products` table: the product API's creates,
//! changes and deletes, and the feeds' upserts by sku. (`offer-poller`
//! writes only a product's registration columns, which it owns.)

use std::collections::HashMap;

use catalog_entities::product;
use platform::error::ResultExt as _;
use platform::{Error, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, IntoActiveModel, Statement,
};
use uuid::Uuid;

use super::{Description, ProductName, Sku};

/// Rows per statement when feeds are upserted.
pub const ROWS_PER_STATEMENT: usize = 1000;

/// What a write changes of a product; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Changes {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    /// `Some(None)` removes the sku.
    pub sku: Option<Option<Sku>>,
}

/// A feed item as the catalog takes it: matched by `sku`; the fields it
/// leaves out keep a stored product's values (a new one is named after
/// its sku).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsert {
    pub sku: Sku,
    pub name: Option<ProductName>,
    pub description: Option<Description>,
}

/// What a feed item applied to a product: the same fingerprint means the
/// same item fields, so the product need not be written again.
pub type Fingerprint = [u8; 16];

impl Upsert {
    /// BLAKE3 of the fields this item applies (a field it leaves out is
    /// told apart from an empty one), cut to 128 bits.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.sku.as_str().as_bytes());
        let name = self.name.as_ref().map(ProductName::as_str);
        let description = self.description.as_ref().map(Description::as_str);
        for field in [name, description] {
            match field {
                None => hasher.update(&[0]),
                Some(text) => hasher
                    .update(&[1])
                    .update(&(text.len() as u64).to_le_bytes())
                    .update(text.as_bytes()),
            };
        }
        let mut fingerprint = [0; 16];
        fingerprint.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        fingerprint
    }
}

/// A new product's row, due for registration with the Offers service at
/// `registration_due`; `fingerprint` is what a feed applied, if one did.
fn new_row(
    name: ProductName,
    description: Description,
    sku: Option<Sku>,
    fingerprint: Option<Fingerprint>,
    registration_due: Timestamp,
    now: Timestamp,
) -> product::ActiveModel {
    product::ActiveModel {
        id: ActiveValue::Set(Uuid::now_v7()),
        name: ActiveValue::Set(name.into_inner()),
        description: ActiveValue::Set(description.into_inner()),
        sku: ActiveValue::Set(sku.map(Sku::into_inner)),
        registered: ActiveValue::Set(false),
        registration_due_at: ActiveValue::Set(Some(registration_due)),
        next_poll_at: ActiveValue::Set(None),
        registration_failures: ActiveValue::Set(0),
        feed_fingerprint: ActiveValue::Set(fingerprint.map(Vec::from)),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
}

/// The 409 message when `sku` clashes with another product's.
fn sku_taken(sku: Option<&Sku>) -> impl FnOnce() -> String + use<> {
    let sku = sku.map_or_else(String::new, |sku| format!(" {}", sku.as_str()));
    move || format!("sku{sku} is taken by another product")
}

/// Stores a new product; a taken sku is a 409.
pub async fn create(
    db: &DatabaseConnection,
    name: ProductName,
    description: Description,
    sku: Option<Sku>,
    registration_due: Timestamp,
    now: Timestamp,
) -> Result<product::Model, Error> {
    let taken = sku_taken(sku.as_ref());
    let row = new_row(name, description, sku, None, registration_due, now);
    platform::db::insert_returning(db, row)
        .await
        .on_unique_violation(taken)
}

/// Changes a product; an unknown id is a 404, a taken sku a 409. The
/// product no longer holds what a feed last applied, so the next feed
/// item for it is written whatever its fingerprint.
pub async fn change(
    db: &DatabaseConnection,
    id: Uuid,
    changes: Changes,
    now: Timestamp,
) -> Result<product::Model, Error> {
    let mut row = product::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("product {id} not found")))?
        .into_active_model();
    if let Some(name) = changes.name {
        row.name = ActiveValue::Set(name.into_inner());
    }
    if let Some(description) = changes.description {
        row.description = ActiveValue::Set(description.into_inner());
    }
    let new_sku = changes.sku.clone().flatten();
    if let Some(sku) = changes.sku {
        row.sku = ActiveValue::Set(sku.map(Sku::into_inner));
    }
    row.feed_fingerprint = ActiveValue::Set(None);
    row.updated_at = ActiveValue::Set(now);
    row.update(db)
        .await
        .on_unique_violation(sku_taken(new_sku.as_ref()))
}

/// Deletes a product with its offers and price history (the foreign keys
/// cascade); an unknown id is a 404.
pub async fn delete(db: &DatabaseConnection, id: Uuid) -> Result<(), Error> {
    let deleted = product::Entity::delete_by_id(id).exec(db).await?;
    if deleted.rows_affected == 0 {
        return Err(Error::NotFound(format!("product {id} not found")));
    }
    Ok(())
}

/// What the catalog makes of the skus of `upserts`: those it must write,
/// each with whether the catalog has it already (`true`: changed since a
/// feed last applied it, or changed through the product API; `false`:
/// new). A sku left out has the fingerprint of its item: unchanged.
///
/// The database compares each item's fingerprint with the one its product
/// keeps, and answers only the rows to write: re-sending a feed with few
/// changes moves few rows back (each row fetched from SQLite's worker
/// thread costs a hand-over). One statement per [`ROWS_PER_STATEMENT`].
pub async fn to_write(
    db: &impl ConnectionTrait,
    upserts: &[Upsert],
) -> Result<HashMap<String, bool>, DbErr> {
    let backend = db.get_database_backend();
    let mut found = HashMap::new();
    for chunk in upserts.chunks(ROWS_PER_STATEMENT) {
        let statement = if backend == DbBackend::Postgres {
            // Two text parameters, not two per item: PostgreSQL binds and
            // plans thousands of parameters at a cost beside the lookups.
            // A sku never holds a comma.
            let skus: Vec<&str> = chunk.iter().map(|u| u.sku.as_str()).collect();
            let fingerprints: Vec<String> = chunk.iter().map(|u| hex(&u.fingerprint())).collect();
            Statement::from_sql_and_values(
                backend,
                r#"SELECT f.sku AS sku, p.sku IS NOT NULL AS known
                   FROM unnest(string_to_array($1, ','), string_to_array($2, ',')) AS f (sku, fingerprint)
                   LEFT JOIN products p ON p.sku = f.sku
                   WHERE p.feed_fingerprint IS DISTINCT FROM decode(f.fingerprint, 'hex')"#,
                [skus.join(",").into(), fingerprints.join(",").into()],
            )
        } else {
            let rows = vec!["(?, ?)"; chunk.len()].join(", ");
            let values = chunk
                .iter()
                .flat_map(|u| [u.sku.as_str().into(), u.fingerprint().to_vec().into()]);
            Statement::from_sql_and_values(
                backend,
                format!(
                    "WITH f (sku, fingerprint) AS (VALUES {rows})
                     SELECT f.sku AS sku, p.sku IS NOT NULL AS known
                     FROM f LEFT JOIN products p ON p.sku = f.sku
                     WHERE p.feed_fingerprint IS NOT f.fingerprint"
                ),
                values,
            )
        };
        for row in db.query_all_raw(statement).await? {
            found.insert(
                row.try_get::<String>("", "sku")?,
                row.try_get::<bool>("", "known")?,
            );
        }
    }
    Ok(found)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Inserts the products new to the catalog, due for registration now, and
/// changes the fields the feed gives of those already there,
/// [`ROWS_PER_STATEMENT`] rows per statement. Each keeps its item's
/// fingerprint.
pub async fn upsert_by_sku(
    db: &impl ConnectionTrait,
    upserts: Vec<Upsert>,
    now: Timestamp,
) -> Result<(), DbErr> {
    let mut groups: HashMap<(bool, bool), Vec<product::ActiveModel>> = HashMap::new();
    for upsert in upserts {
        let fingerprint = upsert.fingerprint();
        let fields = (upsert.name.is_some(), upsert.description.is_some());
        let name = upsert.name.unwrap_or_else(|| upsert.sku.as_name());
        let description = upsert.description.unwrap_or_default();
        groups.entry(fields).or_default().push(new_row(
            name,
            description,
            Some(upsert.sku),
            Some(fingerprint),
            now,
            now,
        ));
    }
    for ((name, description), rows) in groups {
        // A field the item leaves out keeps the product's current value.
        let mut changed = vec![product::Column::UpdatedAt, product::Column::FeedFingerprint];
        if name {
            changed.push(product::Column::Name);
        }
        if description {
            changed.push(product::Column::Description);
        }
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
            product::Entity::insert_many(chunk)
                .on_conflict(
                    OnConflict::column(product::Column::Sku)
                        .update_columns(changed.clone())
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
    }
    Ok(())
}
