//! The deadline sweeper (亮灯督办). It reads deadlines from the database, so they survive
//! restarts, and lights a late task with a compare-and-set on its current light, so when several
//! instances sweep at once exactly one of them lights it, escalates it one level up the area tree,
//! tells the command centre live and queues mail to the supervisors of that level.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::web;
use chrono::{DateTime, Utc};
use places::locate::LocateIndex;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::catalogue::Cached;
use super::moves::announce;
use super::timeline::{ActorRef, Step};
use crate::accounts::{self, AreaKind};
use crate::auth::roles::Role;
use crate::entities::{events, tasks, user_roles, users};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::workers::{Stop, Supervisor};

/// How late a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Light {
    None,
    /// One deadline missed.
    Yellow,
    /// Two missed, or the handling deadline itself.
    Red,
}

impl Light {
    pub fn as_str(self) -> &'static str {
        match self {
            Light::None => "none",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }

    /// A stored light; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Light, crate::stored::Corrupt> {
        crate::stored::lookup(
            "task light",
            &[Light::None, Light::Yellow, Light::Red],
            Light::as_str,
            s,
        )
    }
}

/// The deadlines a task has missed at `now`, by name.
pub fn missed(t: &tasks::Model, now: DateTime<Utc>) -> Vec<&'static str> {
    let late = |due: Option<DateTime<Utc>>, done: Option<DateTime<Utc>>| {
        done.is_none() && due.is_some_and(|d| d < now)
    };
    let mut m = Vec::new();
    if late(t.sign_due, t.signed_at) {
        m.push("sign");
    }
    if late(t.arrive_due, t.arrived_at) {
        m.push("arrive");
    }
    if late(t.handle_due, t.handled_at) {
        m.push("handle");
    }
    m
}

/// The light a task deserves for what it missed.
pub fn light_for(missed: &[&str]) -> Light {
    match missed {
        [] => Light::None,
        [one] if *one != "handle" => Light::Yellow,
        _ => Light::Red,
    }
}

/// Starts the sweeper worker of this instance.
pub fn spawn(state: web::Data<AppState>, workers: &mut Supervisor) {
    workers.spawn("sweeper", move |stop| Box::pin(run(state.clone(), stop)));
}

/// Sweeps every `--sweep-secs` until the instance stops; a sweep under way finishes first.
async fn run(state: web::Data<AppState>, mut stop: Stop) {
    let every = Duration::from_secs(state.settings.sweep_secs.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.requested() => return,
        }
        match sweep(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(lit = n, "late tasks lit and escalated"),
            Err(e) => tracing::warn!(error = %e, "deadline sweep failed"),
        }
    }
}

/// One tick of the sweeper: lights what is late, and wakes the live side when anything was lit.
/// Returns how many tasks this instance lit.
pub async fn sweep(state: &AppState) -> ApiResult<usize> {
    let lit = light_late(&state.db, &state.places.get(), &state.catalogue).await?;
    if lit > 0 {
        state.live.poke();
    }
    Ok(lit)
}

/// One pass: lights every task whose light should rise, escalating it up `index`'s tree and
/// mailing the supervisors there. Returns how many this instance lit.
pub async fn light_late(
    db: &DatabaseConnection,
    index: &LocateIndex,
    catalogue: &Cached,
) -> ApiResult<usize> {
    let now = Utc::now();
    let late = Condition::any()
        .add(
            Condition::all()
                .add(tasks::Column::SignDue.lt(now))
                .add(tasks::Column::SignedAt.is_null()),
        )
        .add(
            Condition::all()
                .add(tasks::Column::ArriveDue.lt(now))
                .add(tasks::Column::ArrivedAt.is_null()),
        )
        .add(
            Condition::all()
                .add(tasks::Column::HandleDue.lt(now))
                .add(tasks::Column::HandledAt.is_null()),
        );
    let candidates = tasks::Entity::find()
        .filter(tasks::Column::Open.eq(true))
        .filter(tasks::Column::Light.ne(Light::Red.as_str()))
        .filter(late)
        .order_by_asc(tasks::Column::Id)
        .limit(500)
        .all(db)
        .await?;
    let mut lit = 0;
    for t in candidates {
        let missed = missed(&t, now);
        let want = light_for(&missed);
        // One unreadable row must not stop the sweep of every other task: it is reported (every
        // pass, until someone repairs it) and left alone, never taken for unlit.
        let have = match Light::parse(&t.light) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(task = %t.id, error = %e, "sweep: skipping a task that cannot be read");
                continue;
            }
        };
        if want > have && light_one(db, index, catalogue, &t, want, &missed).await? {
            lit += 1;
        }
    }
    Ok(lit)
}

/// The area a late task goes up to: the grid's parent on yellow, the street on red.
fn escalation_target(
    index: &LocateIndex,
    t: &tasks::Model,
    event: &events::Model,
    light: Light,
) -> Option<String> {
    let start = if t.assignee_kind == "grid" {
        Some(t.assignee_code.as_str())
    } else {
        event.grid_code.as_deref()
    };
    let chain: Vec<String> = start
        .map(|c| index.chain(c).into_iter().map(|n| n.code.clone()).collect())
        .unwrap_or_default();
    match light {
        Light::Yellow => chain.get(1).cloned().or(event.street_code.clone()),
        _ => chain.last().cloned().or(event.street_code.clone()),
    }
}

async fn light_one(
    db: &DatabaseConnection,
    index: &LocateIndex,
    catalogue: &Cached,
    t: &tasks::Model,
    light: Light,
    missed: &[&str],
) -> ApiResult<bool> {
    let tx = crate::db::begin_write(db).await?;
    let Some(event) = events::Entity::find_by_id(t.event_id).one(&tx).await? else {
        return Ok(false);
    };
    let target = escalation_target(index, t, &event, light);
    // Compare-and-set: only the sweep that sees the light it read changes it.
    let done = tasks::Entity::update_many()
        .col_expr(tasks::Column::Light, Expr::value(light.as_str()))
        .col_expr(tasks::Column::EscalatedTo, Expr::value(target.clone()))
        .filter(tasks::Column::Id.eq(t.id))
        .filter(tasks::Column::Light.eq(t.light.clone()))
        .filter(tasks::Column::Open.eq(true))
        .exec(&tx)
        .await?;
    if done.rows_affected == 0 {
        return Ok(false);
    }
    // Who is mailed is decided now and kept with the light (as account ids: the timeline is
    // shown to everyone who sees the event; names and addresses only to the command centre,
    // through GET /api/v1/events/{id}/escalations).
    let mailed = supervisors(index, &tx, target.as_deref()).await?;
    let mailed_ids: Vec<Uuid> = mailed.iter().map(|(id, _)| *id).collect();
    Step::new(t.event_id, ActorRef::system(), "light")
        .task(t.id)
        .detail(serde_json::json!({
            "light": light.as_str(),
            "missed": missed,
            "escalated_to": target,
            "mailed": mailed_ids,
        }))
        .append(&tx)
        .await?;
    announce(&tx, t.event_id, "task.lit").await?;
    let category = catalogue
        .get(&tx)
        .await?
        .category(&event.category, "category")
        .map(|c| c.name_zh)
        .unwrap_or(event.category.clone());
    let subject = format!(
        "【亮灯督办】{category}事件超时（{}）",
        if light == Light::Red {
            "红灯"
        } else {
            "黄灯"
        }
    );
    let body = format!(
        "事件 {id}\n类别：{category}\n描述：{desc}\n承办：{kind} {code}\n超时环节：{missed}\n已升级至：{target}\n\n请督促处置。",
        id = event.id,
        desc = event.description,
        kind = if t.assignee_kind == "team" {
            "队伍"
        } else {
            "网格"
        },
        code = t.assignee_code,
        missed = missed.join("、"),
        target = target.as_deref().unwrap_or("街道"),
    );
    for (_, to) in &mailed {
        crate::mail::enqueue(&tx, to, &subject, &body).await?;
    }
    tx.commit().await?;
    tracing::info!(task = %t.id, event = %t.event_id, light = light.as_str(), escalated_to = ?target, "task lit");
    Ok(true)
}

/// The dispatchers and admins over `area` who have a mail address (account id, address), one
/// row per address: those serving it or an area above it, and those who serve no area in
/// particular.
pub(crate) async fn supervisors(
    index: &LocateIndex,
    db: &impl ConnectionTrait,
    area: Option<&str>,
) -> ApiResult<Vec<(Uuid, String)>> {
    let above: BTreeSet<String> = area
        .map(|a| index.chain(a).into_iter().map(|n| n.code.clone()).collect())
        .unwrap_or_default();
    let staff: BTreeSet<Uuid> = user_roles::Entity::find()
        .filter(user_roles::Column::Role.is_in([Role::Dispatcher.as_str(), Role::Admin.as_str()]))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect();
    let people = users::Entity::find()
        .filter(users::Column::Id.is_in(staff))
        .filter(users::Column::Email.is_not_null())
        .filter(users::Column::Disabled.eq(false))
        .all(db)
        .await?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for u in people {
        let areas = accounts::areas_of(db, u.id).await?;
        let over = areas
            .iter()
            .any(|a| a.kind != AreaKind::Team && above.contains(&a.code));
        if (over || areas.is_empty())
            && let Some(e) = u.email
            && seen.insert(e.clone())
        {
            out.push((u.id, e));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_miss_is_yellow_two_or_the_handling_is_red() {
        assert_eq!(light_for(&[]), Light::None);
        assert_eq!(light_for(&["sign"]), Light::Yellow);
        assert_eq!(light_for(&["arrive"]), Light::Yellow);
        assert_eq!(light_for(&["handle"]), Light::Red);
        assert_eq!(light_for(&["sign", "arrive"]), Light::Red);
        assert!(Light::Red > Light::Yellow && Light::Yellow > Light::None);
    }
}
