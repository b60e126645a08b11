//! Listing pages read from rows of any backend: each backend runs its own keyset SQL, which
//! returns `limit + 1` rows in order (see [`Page::from_overfetched`]).

use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};

use kiln_domain::build::BuildRecord;

use crate::records::from_json;
use crate::{Page, ProjectKey, ProjectSort, StoreResult};

/// A page of project names from rows of `name` and, unless sorting by name, `sort_value`.
pub fn project_page<'r, R: Row>(
    rows: &'r [R],
    sort: ProjectSort,
    limit: u64,
) -> StoreResult<Page<String, ProjectKey>>
where
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
{
    let keys = rows
        .iter()
        .map(|row| {
            let sort_value = match sort {
                ProjectSort::Name => 0.0,
                _ => row.try_get("sort_value")?,
            };
            Ok(ProjectKey {
                sort_value,
                name: row.try_get("name")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Page::from_overfetched(
        keys,
        limit,
        |key| key.name.clone(),
        Clone::clone,
    ))
}

/// A row of a build listing: the build's id (`project:uuid`) and its key in the listing.
#[derive(FromRow)]
pub struct BuildPageRow {
    id: String,
    page_key: i64,
}

/// A page of build ids.
pub fn build_page(rows: Vec<BuildPageRow>, limit: u64) -> Page<String, i64> {
    Page::from_overfetched(rows, limit, |row| row.id.clone(), |row| row.page_key)
}

/// A row of a listing of whole builds: the build's record and its key in the listing.
#[derive(FromRow)]
pub struct BuildRecordPageRow {
    record: String,
    page_key: i64,
}

/// A page of builds; only the rows the page shows are parsed.
pub fn build_record_page(
    mut rows: Vec<BuildRecordPageRow>,
    limit: u64,
) -> StoreResult<Page<BuildRecord, i64>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|row| row.page_key)
    } else {
        None
    };
    let items = rows
        .iter()
        .map(|row| from_json(&row.record))
        .collect::<StoreResult<Vec<BuildRecord>>>()?;
    Ok(Page { items, next })
}
