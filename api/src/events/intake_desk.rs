//! Where prepared reports are written: queued and written a batch at a time, one transaction and
//! a few multi-row statements per batch, since a city's sensors post thousands of alerts a
//! second and a transaction per alert spends the database on round trips and commits.
//!
//! A batch stands or falls together; if it falls, its reports are written one by one, so one
//! that cannot be written (a reporter deleted meanwhile) fails alone.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use places::geometry::Coord;
use places::locate::LocateIndex;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set, TryIntoModel,
};
use uuid::Uuid;

use super::catalogue::Cached;
use super::flow::Status;
use super::intake::{NewEvent, Prepared, Reporter, Source};
use super::timeline::{ActorRef, Step};
use super::views::{self, EventView};
use crate::batch::Batcher;
use crate::db::by_size;
use crate::entities::{event_photos, events, outbox as outbox_rows, tasks, timeline};
use crate::error::{ApiError, ApiResult};
use crate::live::Live;
use crate::live::outbox::{self, Entry};

/// Most reports in one batch.
const MAX_BATCH: usize = 64;

type Answer = ApiResult<(EventView, bool)>;

/// Where a report goes in: what it is checked and routed against, the desk that writes it, and
/// the live side to wake once it is written.
pub struct Intake<'a> {
    pub db: &'a DatabaseConnection,
    pub index: &'a LocateIndex,
    pub catalogue: &'a Cached,
    pub desk: &'a IntakeDesk,
    pub live: &'a Live,
}

/// Takes a report in. Returns the event and whether this was a replay of an earlier create.
pub async fn create(to: Intake<'_>, new: NewEvent) -> ApiResult<(EventView, bool)> {
    let prepared = super::intake::prepare(to.db, to.index, to.catalogue, new).await?;
    let answer = to.desk.submit(prepared).await?;
    if !answer.1 {
        to.live.poke();
    }
    Ok(answer)
}

/// The intake's writers: reports are spread over a few lanes by their key, each lane writing
/// one batch at a time, so batches of different lanes overlap and two retries of one key always
/// meet in the same lane.
pub struct IntakeDesk {
    batches: Batcher<u64, Prepared, Answer>,
    lanes: u64,
}

impl IntakeDesk {
    /// The intake of a server, writing through `db` with `lanes` writers at most.
    pub fn new(db: DatabaseConnection, lanes: usize) -> Self {
        let batches = Batcher::new(
            MAX_BATCH,
            Duration::from_secs(30),
            Arc::new(move |_lane, jobs| {
                let db = db.clone();
                Box::pin(async move { write(&db, jobs).await })
                    as futures_util::future::BoxFuture<'static, _>
            }),
        );
        Self {
            batches,
            lanes: lanes.max(1) as u64,
        }
    }

    /// Writes one report; answers once its batch has committed.
    pub async fn submit(&self, job: Prepared) -> Answer {
        let mut h = DefaultHasher::new();
        job.idem_key.hash(&mut h);
        let lane = h.finish() % self.lanes;
        self.batches
            .submit(lane, job)
            .await
            .map_err(|e| ApiError::Unexpected(e.into()))?
    }
}

async fn write(db: &DatabaseConnection, jobs: Vec<Prepared>) -> Vec<Answer> {
    if jobs.len() == 1 {
        return vec![write_one(db, &jobs[0]).await];
    }
    match write_batch(db, &jobs).await {
        Ok(outcomes) => {
            let mut answers = Vec::with_capacity(jobs.len());
            for (job, outcome) in jobs.iter().zip(outcomes) {
                answers.push(answer(db, job, outcome).await);
            }
            answers
        }
        Err(e) => {
            tracing::warn!(error = %e, reports = jobs.len(), "intake batch failed; writing its reports one by one");
            let mut answers = Vec::with_capacity(jobs.len());
            for job in &jobs {
                answers.push(write_one(db, job).await);
            }
            answers
        }
    }
}

async fn write_one(db: &DatabaseConnection, job: &Prepared) -> Answer {
    let outcome = write_batch(db, std::slice::from_ref(job))
        .await?
        .pop()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no outcome for a report")))?;
    answer(db, job, outcome).await
}

/// What became of one report of a batch.
enum Outcome {
    Written(Box<EventView>),
    /// Its key was already taken (a retry, or twice in one batch): answered from the stored event.
    Taken,
}

async fn answer(db: &DatabaseConnection, job: &Prepared, outcome: Outcome) -> Answer {
    match outcome {
        Outcome::Written(view) => Ok((*view, false)),
        Outcome::Taken => {
            let earlier = events::Entity::find()
                .filter(events::Column::IdemKey.eq(job.idem_key.as_str()))
                .one(db)
                .await?
                .ok_or_else(|| {
                    ApiError::Unexpected(anyhow::anyhow!("a taken key without its event"))
                })?;
            crate::extract::same_request(&earlier.request_hash, &job.new.request_hash, "report")?;
            Ok((views::event(db, earlier.id).await?, true))
        }
    }
}

/// The rows of one report.
struct Rows {
    event: events::ActiveModel,
    photos: Vec<event_photos::ActiveModel>,
    task: Option<tasks::ActiveModel>,
    steps: Vec<timeline::ActiveModel>,
    announcement: outbox_rows::ActiveModel,
    view: EventView,
}

async fn write_batch(db: &DatabaseConnection, jobs: &[Prepared]) -> ApiResult<Vec<Outcome>> {
    // The answers are built from these values, not read back: keep only what the database
    // keeps, so a replay or a later read shows the same times.
    let now = Utc::now().trunc_subsecs(6);
    let tx = crate::db::begin_write(db).await?;
    let stored = stored_originals(&tx, jobs, now).await?;
    let originals = duplicates_within(jobs, stored);
    let mut keys = HashSet::new();
    let mut planned: Vec<Option<Rows>> = Vec::with_capacity(jobs.len());
    for (job, duplicate_of) in jobs.iter().zip(originals) {
        planned.push(if keys.insert(job.idem_key.as_str()) {
            Some(rows(job, duplicate_of, now)?)
        } else {
            None
        });
    }

    let mut written = HashSet::new();
    let new_events: Vec<&events::ActiveModel> =
        planned.iter().flatten().map(|r| &r.event).collect();
    for chunk in by_size(new_events, |e| 400 + e.description.as_ref().len()) {
        let mut insert = events::Entity::insert_many(chunk.into_iter().cloned())
            .on_conflict(
                OnConflict::column(events::Column::IdemKey)
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        insert.returning_col(events::Column::Id);
        for row in tx.query_all(&insert).await? {
            written.insert(row.try_get::<Uuid>("", "id")?);
        }
    }
    // A report of this batch found an original that was not written after all (its key was
    // taken): the batch is rolled back and its reports written one by one.
    for rows in planned.iter().flatten() {
        let id = *rows.event.id.as_ref();
        if written.contains(&id)
            && let Some(original) = rows.event.duplicate_of.as_ref()
            && jobs.iter().any(|j| j.id == *original)
            && !written.contains(original)
        {
            return Err(ApiError::Unexpected(anyhow::anyhow!(
                "a duplicate's original was not written"
            )));
        }
    }

    let mut outcomes = Vec::with_capacity(jobs.len());
    let (mut photos, mut tasks_, mut steps, mut announcements) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rows in planned {
        let Some(rows) = rows.filter(|r| written.contains(r.event.id.as_ref())) else {
            outcomes.push(Outcome::Taken);
            continue;
        };
        photos.extend(rows.photos);
        tasks_.extend(rows.task);
        steps.extend(rows.steps);
        announcements.push(rows.announcement);
        outcomes.push(Outcome::Written(Box::new(rows.view)));
    }
    for chunk in by_size(photos, |_| 200) {
        event_photos::Entity::insert_many(chunk).exec(&tx).await?;
    }
    for chunk in by_size(tasks_, |_| 400) {
        tasks::Entity::insert_many(chunk).exec(&tx).await?;
    }
    for chunk in by_size(steps, |s| 300 + s.detail.as_ref().len()) {
        timeline::Entity::insert_many(chunk).exec(&tx).await?;
    }
    for chunk in by_size(announcements, |a| 300 + a.payload.as_ref().len()) {
        outbox_rows::Entity::insert_many(chunk).exec(&tx).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// How far apart two reports of one category may be, and how long apart, and still be likely
/// the same matter.
const DUPLICATE_RADIUS_M: f64 = 100.0;
const DUPLICATE_WINDOW_MINUTES: i64 = 60;

/// Half the sides, in degrees of latitude and longitude, of the box around `p` within which a
/// report is a likely duplicate.
fn duplicate_box(p: Coord) -> (f64, f64) {
    let dlat = DUPLICATE_RADIUS_M / 111_320.0;
    (dlat, dlat / p[1].to_radians().cos().max(0.01))
}

/// Whether `q` lies in the box around `p`.
fn near(p: Coord, q: Coord) -> bool {
    let (dlat, dlng) = duplicate_box(p);
    (q[1] - p[1]).abs() <= dlat && (q[0] - p[0]).abs() <= dlng
}

/// For each report, the earliest stored open original of its category near it in the last
/// hour: one query for the whole batch, read inside its transaction.
async fn stored_originals(
    tx: &crate::db::WriteTx,
    jobs: &[Prepared],
    now: chrono::DateTime<Utc>,
) -> ApiResult<Vec<Option<Uuid>>> {
    let placed: Vec<(&str, Coord)> = jobs
        .iter()
        .filter_map(|j| Some((j.new.category.code.as_str(), j.routing.point?)))
        .collect();
    if placed.is_empty() {
        return Ok(vec![None; jobs.len()]);
    }
    let mut boxes = Condition::any();
    for (category, p) in &placed {
        let (dlat, dlng) = duplicate_box(*p);
        boxes = boxes.add(
            Condition::all()
                .add(events::Column::Category.eq(*category))
                .add(events::Column::Lat.between(p[1] - dlat, p[1] + dlat))
                .add(events::Column::Lng.between(p[0] - dlng, p[0] + dlng)),
        );
    }
    let open: Vec<&str> = Status::ALL
        .into_iter()
        .filter(|s| !s.is_final())
        .map(Status::as_str)
        .collect();
    let candidates: Vec<(Uuid, String, Option<f64>, Option<f64>)> = events::Entity::find()
        .select_only()
        .columns([
            events::Column::Id,
            events::Column::Category,
            events::Column::Lng,
            events::Column::Lat,
        ])
        .filter(
            events::Column::CreatedAt.gt(now - chrono::Duration::minutes(DUPLICATE_WINDOW_MINUTES)),
        )
        .filter(events::Column::DuplicateOf.is_null())
        .filter(events::Column::Status.is_in(open))
        .filter(boxes)
        .order_by_asc(events::Column::Id)
        .into_tuple()
        .all(tx)
        .await?;
    Ok(jobs
        .iter()
        .map(|j| {
            let p = j.routing.point?;
            candidates
                .iter()
                .find(|(_, category, lng, lat)| {
                    *category == j.new.category.code
                        && lng.zip(*lat).is_some_and(|(lng, lat)| near(p, [lng, lat]))
                })
                .map(|c| c.0)
        })
        .collect())
}

/// The original of each report: the one found in the database, or else an earlier report of
/// the same batch, same category and nearby, that is an original itself (a burst of alarms at
/// one spot arrives in one batch).
fn duplicates_within(jobs: &[Prepared], stored: Vec<Option<Uuid>>) -> Vec<Option<Uuid>> {
    let mut found: Vec<Option<Uuid>> = Vec::with_capacity(jobs.len());
    for ((i, job), stored) in jobs.iter().enumerate().zip(stored) {
        let within = || {
            let p = job.routing.point?;
            jobs[..i]
                .iter()
                .zip(&found)
                .find(|(earlier, original)| {
                    original.is_none()
                        && earlier.idem_key != job.idem_key
                        && earlier.new.category.code == job.new.category.code
                        && earlier.routing.point.is_some_and(|q| near(p, q))
                })
                .map(|(earlier, _)| earlier.id)
        };
        found.push(stored.or_else(within));
    }
    found
}

fn rows(job: &Prepared, duplicate_of: Option<Uuid>, now: chrono::DateTime<Utc>) -> ApiResult<Rows> {
    let (new, routing, id) = (&job.new, &job.routing, job.id);
    let colour = new.colour.unwrap_or(new.category.colour);
    let (reporter_id, api_key_id, source) = match new.reporter {
        Reporter::User { id, source } => (Some(id), None, source),
        Reporter::Machine { key_id } => (None, Some(key_id), Source::Machine),
    };
    let status = if routing.assignee.is_some() {
        Status::Dispatched
    } else {
        Status::Reported
    };
    let event = events::ActiveModel {
        id: Set(id),
        idem_key: Set(Some(job.idem_key.clone())),
        request_hash: Set(new.request_hash.clone()),
        source: Set(source.as_str().to_owned()),
        reporter_id: Set(reporter_id),
        api_key_id: Set(api_key_id),
        category: Set(new.category.code.clone()),
        colour: Set(colour.as_str().to_owned()),
        status: Set(status.as_str().to_owned()),
        description: Set(new.description.clone()),
        lng: Set(routing.point.map(|p| p[0])),
        lat: Set(routing.point.map(|p| p[1])),
        building_code: Set(new.building_code.clone()),
        micro_grid_code: Set(routing.micro_grid.clone()),
        grid_code: Set(routing.grid.clone()),
        street_code: Set(routing.street.clone()),
        duplicate_of: Set(duplicate_of),
        merged_into: Set(None),
        rating: Set(None),
        rating_comment: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let photos = new
        .photos
        .iter()
        .map(|sha| event_photos::ActiveModel {
            event_id: Set(id),
            sha256: Set(sha.clone()),
            role: Set("report".to_owned()),
            created_at: Set(now),
        })
        .collect();
    let actor = match new.reporter {
        Reporter::User { id, .. } => ActorRef::user(id),
        Reporter::Machine { key_id } => ActorRef::machine(key_id),
    };
    let mut steps = vec![
        Step::new(id, actor, "report")
            .to(Status::Reported)
            .detail(serde_json::json!({"source": source.as_str(), "duplicate_of": duplicate_of})),
    ];
    let mut task = None;
    if let Some((kind, code)) = &routing.assignee {
        let row = super::tasks::task_row(id, kind, code, colour, job.limits, now);
        let task_id = *row.id.as_ref();
        steps.push(
            Step::new(id, ActorRef::system(), "accept")
                .from(Status::Reported)
                .to(Status::Accepted),
        );
        steps.push(
            Step::new(id, ActorRef::system(), "dispatch")
                .task(task_id)
                .from(Status::Accepted)
                .to(Status::Dispatched)
                .detail(serde_json::json!({"assignee_kind": kind, "assignee_code": code})),
        );
        task = Some(row);
    }
    let view = views::assemble_one(
        event.clone().try_into_model()?,
        task.clone().map(TryIntoModel::try_into_model).transpose()?,
        new.photos.clone(),
    )?;
    let (grid_code, team_code) = views::audience(routing.assignee.as_ref());
    let announcement = outbox::row(Entry {
        event_id: id,
        kind: "event.created",
        grid_code,
        micro_grid_code: routing.micro_grid.clone(),
        team_code,
        user_id: reporter_id,
        street_code: routing.street.clone(),
        payload: serde_json::to_value(&view).unwrap_or_default(),
    });
    Ok(Rows {
        event,
        photos,
        task,
        steps: Step::rows(steps),
        announcement,
        view,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::catalogue::{Category, Colour, Limits};
    use crate::events::intake::{NewEvent, Routing};

    fn job(key: &str, category: &str, point: Option<[f64; 2]>) -> Prepared {
        Prepared {
            id: Uuid::now_v7(),
            idem_key: key.to_owned(),
            new: NewEvent {
                reporter: Reporter::Machine {
                    key_id: Uuid::nil(),
                },
                key: key.to_owned(),
                request_hash: String::new(),
                category: Category {
                    code: category.to_owned(),
                    name_zh: String::new(),
                    name_en: String::new(),
                    colour: Colour::Orange,
                    handler: "grid".to_owned(),
                    points: 0,
                },
                colour: None,
                description: "烟感报警".to_owned(),
                point,
                building_code: None,
                photos: Vec::new(),
            },
            routing: Routing {
                point,
                ..Routing::default()
            },
            limits: Limits {
                accept_secs: None,
                dispatch_secs: None,
                sign_secs: None,
                arrive_secs: None,
                handle_secs: None,
            },
        }
    }

    #[test]
    fn a_burst_at_one_spot_points_at_its_first_report() {
        let spot = Some([119.72, 30.25]);
        let jobs = vec![
            job("a", "safety.hazard", spot),
            job("b", "safety.hazard", Some([119.7201, 30.2501])),
            job("c", "environment", spot),
            job("d", "safety.hazard", Some([119.80, 30.25])),
            job("e", "safety.hazard", spot),
        ];
        let found = duplicates_within(&jobs, vec![None; 5]);
        assert_eq!(found[0], None);
        assert_eq!(found[1], Some(jobs[0].id), "50 m away, same category");
        assert_eq!(found[2], None, "another category");
        assert_eq!(found[3], None, "8 km away");
        assert_eq!(found[4], Some(jobs[0].id));
    }

    #[test]
    fn an_original_in_the_database_wins_over_one_in_the_batch() {
        let spot = Some([119.72, 30.25]);
        let stored = Uuid::now_v7();
        let jobs = vec![
            job("a", "safety.hazard", spot),
            job("b", "safety.hazard", spot),
            job("c", "safety.hazard", None),
        ];
        assert_eq!(
            duplicates_within(&jobs, vec![Some(stored), Some(stored), None]),
            vec![Some(stored), Some(stored), None]
        );
    }
}
