//! `casebook demo`: a realistic data set (people, a customised workflow,
//! incidents, cases with tasks, links, comments and audit history), loaded in
//! batches so 100,000 cases take seconds, not hours.

use chrono::{Duration, NaiveDateTime};
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::auth::{ManageSettings, Permission, Principal};
use crate::db::{Backend, Conn, Db};
use crate::domain::activity::{self, ActivityInsert, AuditAction, FieldChange, NewAudit};
use crate::domain::attack::{self, CaseTechniqueRow};
use crate::domain::case::{self, CaseId, CaseRow};
use crate::domain::incident::{self, IncidentRow, LinkRow};
use crate::domain::observable::{self, CheckedObservable, NewObservable, ObservableInsert, ObservableType};
use crate::domain::search::{self, EntryRow};
use crate::domain::sla::{self, PolicyInput};
use crate::domain::status::{self, NewStatus, Status, StatusCategory};
use crate::domain::tag::{self, CaseTagRow};
use crate::domain::task::{self, TaskRow};
use crate::domain::values::{CasePriority, IncidentSeverity, IncidentStatus, TaskStatus};
use crate::domain::workflow::{Classification, Determination};
use crate::domain::{counts, now, user};
use crate::error::AppResult;

/// What a tenant already holds, before a demo is seeded into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existing {
    pub cases: i64,
    pub incidents: i64,
    pub users: i64,
}

/// What the tenant holds, or `None` when it holds nothing the demo would
/// change (no cases, incidents or users). The demo upserts users, moves the
/// workflow's statuses and adds cases: not for a tenant in use by mistake.
pub async fn existing(db: &Db, tenant_id: &str) -> AppResult<Option<Existing>> {
    use crate::db::schema::{cases, incidents, users};
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut pooled = db.get().await?;
    let mut conn = pooled.conn();
    let cases = crate::with_conn!(conn, c => {
        cases::table.filter(cases::tenant_id.eq(tenant_id)).count().get_result::<i64>(c).await
    })?;
    let incidents = crate::with_conn!(conn, c => {
        incidents::table.filter(incidents::tenant_id.eq(tenant_id)).count().get_result::<i64>(c).await
    })?;
    let users = crate::with_conn!(conn, c => {
        users::table.filter(users::tenant_id.eq(tenant_id)).count().get_result::<i64>(c).await
    })?;
    let existing = Existing { cases, incidents, users };
    Ok((cases + incidents + users > 0).then_some(existing))
}

/// How much to seed.
#[derive(Debug, Clone)]
pub struct DemoSize {
    pub cases: u32,
    /// Exactly this many tasks, incident links and comments per case; random
    /// (0-10, 0-3, 0-8) when `None`.
    pub fixed: Option<PerCase>,
}

#[derive(Debug, Clone, Copy)]
pub struct PerCase {
    pub tasks: usize,
    pub incidents: usize,
    pub comments: usize,
}

/// What was seeded.
#[derive(Debug, Default, Clone, Copy)]
pub struct DemoSummary {
    pub cases: u64,
    pub tasks: u64,
    pub incidents: u64,
    pub activity: u64,
}

const PEOPLE: [(&str, &str); 12] = [
    ("ava.chen", "Ava Chen"),
    ("ben.okafor", "Ben Okafor"),
    ("carla.diaz", "Carla Díaz"),
    ("dmitri.volkov", "Dmitri Volkov"),
    ("emma.larsen", "Emma Larsen"),
    ("farid.haddad", "Farid Haddad"),
    ("grace.kim", "Grace Kim"),
    ("hugo.martin", "Hugo Martin"),
    ("ines.silva", "Inês Silva"),
    ("jonas.weber", "Jonas Weber"),
    ("keiko.sato", "Keiko Sato"),
    ("liam.brennan", "Liam Brennan"),
];

const THREATS: [&str; 16] = [
    "Burrowing attack",
    "Phishing wave",
    "Credential stuffing",
    "Ransomware precursor",
    "Lateral movement",
    "Suspicious PowerShell",
    "DNS tunnelling",
    "Insider exfiltration",
    "Brute force on VPN",
    "Cobalt Strike beacon",
    "Privilege escalation",
    "Malicious OAuth app",
    "Impossible travel",
    "Web shell",
    "Kerberoasting",
    "Data staging",
];

const PLACES: [&str; 10] = [
    "FS01",
    "the DMZ",
    "HR laptops",
    "the build farm",
    "Exchange",
    "the VPN",
    "SQL02",
    "Azure AD",
    "the CFO's mailbox",
    "DC03",
];

const TASKS: [&str; 10] = [
    "Collect logs",
    "Isolate host",
    "Reset credentials",
    "Sweep for IOCs",
    "Interview user",
    "Block indicators",
    "Image disk",
    "Review firewall rules",
    "Notify data owner",
    "Write timeline",
];

const COMMENTS: [&str; 8] = [
    "Confirmed the alert is not a false positive.",
    "Escalating to tier 2: scope is wider than one host.",
    "Indicators added to the blocklist.",
    "User confirmed they did not sign in from there.",
    "Waiting for the disk image from IT.",
    "Timeline drafted, see the task notes.",
    "No further activity in the last 24 hours.",
    "Handing over to the night shift.",
];

/// Tools and techniques a description or comment names.
const TOOLS: [&str; 16] = [
    "mimikatz.exe",
    "PsExec",
    "rclone.exe",
    "AdFind.exe",
    "procdump64.exe",
    "certutil -urlcache",
    "rundll32 comsvcs.dll MiniDump",
    "SharpHound",
    "ngrok",
    "AnyDesk",
    "powershell -enc",
    "nltest /domain_trusts",
    "bitsadmin /transfer",
    "wmic process call create",
    "Impacket smbexec",
    "plink.exe",
];

const BEHAVIOURS: [&str; 10] = [
    "dumped LSASS memory",
    "created a scheduled task for persistence",
    "opened an SMB tunnel to a staging host",
    "beaconed every 60 seconds over HTTPS",
    "enumerated domain admins",
    "disabled Windows Defender real-time protection",
    "exfiltrated an archive to cloud storage",
    "spawned from a macro-enabled Office document",
    "queried DNS TXT records at high volume",
    "moved laterally with stolen service-account credentials",
];

const DOMAINS: [&str; 8] = [
    "login-micros0ft.com",
    "cdn-update-service.net",
    "evil-corp.example",
    "paste.example.org",
    "files-share.io",
    "office365-auth.info",
    "telemetry-sync.cc",
    "vpn-gateway-check.com",
];

/// Labels analysts put on cases.
const TAGS: [&str; 10] =
    ["ransomware", "phishing", "APT29", "FIN7", "insider", "cloud", "VIP", "needs-legal", "OT", "red-team"];

/// ATT&CK techniques SOCs see most.
const TECHNIQUES: [&str; 20] = [
    "T1059.001",
    "T1021.002",
    "T1566.001",
    "T1003.001",
    "T1486",
    "T1071.001",
    "T1053.005",
    "T1047",
    "T1105",
    "T1078",
    "T1110.003",
    "T1090",
    "T1567.002",
    "T1562.001",
    "T1018",
    "T1087.002",
    "T1569.002",
    "T1219",
    "T1140",
    "T1027",
];

/// Indicators seen on cases, from small pools so that the same indicator
/// turns up on many cases (what the pivot is for).
fn observable(rng: &mut StdRng) -> NewObservable {
    let (kind, value) = match rng.random_range(0..8) {
        0 => (ObservableType::IpAddress, format!("203.0.113.{}", rng.random_range(1..60))),
        1 => (ObservableType::Domain, DOMAINS[rng.random_range(0..DOMAINS.len())].to_owned()),
        2 => (ObservableType::Hostname, format!("ws-{:04}.corp.example", rng.random_range(0..400))),
        3 => {
            let n = rng.random_range(0..40u64);
            (ObservableType::FileHashSha256, format!("{:064x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        }
        4 => (ObservableType::FileName, TOOLS[rng.random_range(0..4)].to_owned()),
        5 => (ObservableType::Url, format!("https://{}/gate.php", DOMAINS[rng.random_range(0..DOMAINS.len())])),
        6 => (ObservableType::UserAccount, format!(r"CORP\{}", PEOPLE[rng.random_range(0..PEOPLE.len())].0)),
        _ => (ObservableType::Cve, format!("CVE-2024-{}", 21_400 + rng.random_range(0..20))),
    };
    NewObservable { kind, value, is_ioc: Some(rng.random_bool(0.6)), tlp: None, description: None }
}

/// The evidence one demo case carries, drawn from its own generator so the
/// rest of the data set does not depend on it.
struct EvidencePlan {
    observables: Vec<CheckedObservable>,
    tags: Vec<&'static str>,
    techniques: Vec<&'static str>,
}

impl EvidencePlan {
    fn draw(case_id: i64) -> AppResult<Self> {
        let mut rng = StdRng::seed_from_u64(0xE71D_E4CE ^ case_id as u64);
        let mut observables: Vec<CheckedObservable> = Vec::new();
        for _ in 0..rng.random_range(0..=6) {
            let checked = observable(&mut rng).check("observable")?;
            if !observables.iter().any(|o| o.kind == checked.kind && o.normalized == checked.normalized) {
                observables.push(checked);
            }
        }
        let mut pick = |pool: &[&'static str], most: usize| {
            let mut picked: Vec<&'static str> = Vec::new();
            for _ in 0..rng.random_range(0..=most) {
                let item = pool[rng.random_range(0..pool.len())];
                if !picked.contains(&item) {
                    picked.push(item);
                }
            }
            picked.sort();
            picked
        };
        let tags = pick(&TAGS, 3);
        let techniques = pick(&TECHNIQUES, 3);
        Ok(EvidencePlan { observables, tags, techniques })
    }

    /// The audit events that recorded it: one per kind of evidence present.
    fn audits(&self) -> Vec<NewAudit> {
        let mut audits = Vec::new();
        if !self.observables.is_empty() {
            let lines: Vec<String> =
                self.observables.iter().map(|o| observable::label(o.kind, &o.normalized)).collect();
            let change = FieldChange::new("observables", None, Some(lines.join("\n")));
            audits.push(NewAudit::new(AuditAction::ObservablesAdded, vec![change]));
        }
        if !self.tags.is_empty() {
            let mut names = self.tags.clone();
            names.sort_by_key(|t| t.to_lowercase());
            let change = FieldChange::new("tags", None, Some(names.join(", ")));
            audits.push(NewAudit::new(AuditAction::TagsAdded, vec![change]));
        }
        if !self.techniques.is_empty() {
            let change = FieldChange::new("techniques", None, Some(self.techniques.join(", ")));
            audits.push(NewAudit::new(AuditAction::TechniquesChanged, vec![change]));
        }
        audits
    }
}

/// How a closed demo case was classified: mostly false and benign positives,
/// as in most SOCs, from the case's own generator.
fn closing_of(case_id: i64) -> (Classification, Determination) {
    let mut rng = StdRng::seed_from_u64(0xC105_ED00 ^ case_id as u64);
    let classification = match rng.random_range(0..10) {
        0..=1 => Classification::TruePositive,
        2..=4 => Classification::BenignPositive,
        5..=8 => Classification::FalsePositive,
        _ => Classification::Undetermined,
    };
    let choices = Determination::of(classification);
    (classification, choices[rng.random_range(0..choices.len())])
}

/// A host name of the demo's estate: `ws-0421.corp.example`, `srv-fs01`...
fn host(rng: &mut StdRng) -> String {
    let kind = ["ws", "lt", "srv", "dc", "vdi"][rng.random_range(0..5)];
    format!("{kind}-{:04}.corp.example", rng.random_range(0..5000))
}

fn ip(rng: &mut StdRng) -> String {
    if rng.random_bool(0.6) {
        format!("10.{}.{}.{}", rng.random_range(0..32), rng.random_range(0..256), rng.random_range(1..255))
    } else {
        format!(
            "{}.{}.{}.{}",
            rng.random_range(23..223),
            rng.random_range(0..256),
            rng.random_range(0..256),
            rng.random_range(1..255)
        )
    }
}

/// What detection said about a case: a host, an address, a tool, what it did.
fn case_description(rng: &mut StdRng, id: i64) -> String {
    let tool = TOOLS[rng.random_range(0..TOOLS.len())];
    let behaviour = BEHAVIOURS[rng.random_range(0..BEHAVIOURS.len())];
    let mut text = format!(
        "Detection flagged {} ({}): {tool} {behaviour}. Outbound traffic to {} and {}.",
        host(rng),
        ip(rng),
        ip(rng),
        DOMAINS[rng.random_range(0..DOMAINS.len())],
    );
    if rng.random_bool(0.3) {
        let hash: String = (0..64).map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)])).collect();
        text.push_str(&format!(" Dropped file SHA256 {hash}."));
    }
    text.push_str(&format!(" Ref {id}."));
    text
}

/// A comment: one of the stock notes, or a finding about a host.
fn comment_body(rng: &mut StdRng, n: usize) -> String {
    if rng.random_bool(0.5) {
        return COMMENTS[n % COMMENTS.len()].to_owned();
    }
    let tool = TOOLS[rng.random_range(0..TOOLS.len())];
    match rng.random_range(0..3) {
        0 => format!("Found {tool} on {} as well; isolating it.", host(rng)),
        1 => format!(
            "Blocked {} at the proxy; {} still resolves it.",
            DOMAINS[rng.random_range(0..DOMAINS.len())],
            host(rng)
        ),
        _ => format!(
            "Firewall shows {} talking to {} over port {}.",
            host(rng),
            ip(rng),
            [22, 443, 445, 3389, 8443][rng.random_range(0..5)]
        ),
    }
}

/// Cases per transaction.
const BATCH: usize = 500;
/// Rows per insert statement (under both backends' bind limits).
const CHUNK: usize = 2000;

/// Seeds `tenant` with `size` cases; `progress` is told how many cases are done.
pub async fn seed(db: &Db, tenant_id: &str, size: &DemoSize, progress: impl Fn(u64)) -> AppResult<DemoSummary> {
    let mut rng = StdRng::seed_from_u64(0xCA5E_B00C);
    let mut summary = DemoSummary::default();
    let lead = Principal {
        user_id: PEOPLE[0].0.to_owned(),
        tenant: tenant_id.to_owned(),
        display_name: Some(PEOPLE[0].1.to_owned()),
        email: None,
        permissions: Permission::ALL.iter().copied().collect(),
        expires_at: 0,
    };

    // People, workflow and incidents.
    let mut tx = db.begin().await?;
    let result = setup(&mut tx.conn(), &lead).await;
    let (statuses, tags) = tx.finish(result).await?;
    let policies = sla::policies(&mut db.get().await?.conn(), tenant_id).await?;
    let incident_count = (size.cases as usize / 2).max(10);
    // Numbered after the tenant's own (`demo --force`): external ids stay unique.
    let numbered_from = existing(db, tenant_id).await?.map_or(0, |e| e.incidents as usize);
    let mut incidents = Vec::with_capacity(incident_count);
    for chunk_start in (0..incident_count).step_by(CHUNK) {
        let rows: Vec<IncidentRow> = (chunk_start..(chunk_start + CHUNK).min(incident_count))
            .map(|n| incident_row(&mut rng, tenant_id, numbered_from + n))
            .collect();
        let mut tx = db.begin().await?;
        let result = incident::insert_rows(&mut tx.conn(), &rows).await;
        let ids = tx.finish(result).await?;
        incidents.extend(ids.into_iter().zip(rows.into_iter().map(|r| r.title)));
    }
    summary.incidents = incidents.len() as u64;

    // Cases, in batches of one transaction each. Their numbers are reserved
    // at once, so batches need not queue on the tenant's counter row and
    // PostgreSQL can take two at a time (one per core here; SQLite has one
    // writer). Each batch draws from its own seeded generator, so the data
    // set is the same however batches interleave.
    let total = size.cases as usize;
    let mut tx = db.begin().await?;
    let result = case::reserve_ids(&mut tx.conn(), tenant_id, total as i64).await;
    let first_id = tx.finish(result).await?;
    let parallel = if db.backend() == Backend::Postgres { 2 } else { 1 };
    let world = &World {
        lead: &lead,
        statuses: &statuses,
        incidents: &incidents,
        tags: &tags,
        policies: &policies,
        fixed: size.fixed,
    };
    let mut batches = futures_util::stream::iter((0..total).step_by(BATCH))
        .map(|start| async move {
            let count = BATCH.min(total - start);
            let mut rng = StdRng::seed_from_u64(0xCA5E_B00C ^ start as u64);
            let first = first_id + start as i64;
            let mut tx = db.begin().await?;
            let result = seed_batch(&mut tx.conn(), &mut rng, world, first, count).await;
            tx.finish(result).await
        })
        .buffer_unordered(parallel);
    let mut done = 0;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        summary.cases += batch.cases;
        summary.tasks += batch.tasks;
        summary.activity += batch.activity;
        done += batch.cases;
        progress(done);
    }
    // Every case added a delta row to the counts: merge them by group.
    let mut tx = db.begin().await?;
    let result = counts::fold(&mut tx.conn(), tenant_id).await;
    tx.finish(result).await?;
    // Fresh statistics, or the planner guesses from empty tables.
    db.analyze().await?;
    Ok(summary)
}

async fn setup(conn: &mut Conn<'_>, lead: &Principal) -> AppResult<(Vec<Status>, Vec<(i64, String)>)> {
    let tenant_id = lead.tenant.as_str();
    status::ensure_tenant(conn, tenant_id).await?;
    for (id, name) in PEOPLE {
        let email = format!("{id}@soc.example");
        let upsert =
            user::UserUpsert { id: id.to_owned(), display_name: Some(Some(name.to_owned())), email: Some(Some(email)) };
        user::upsert(conn, &lead.grant::<ManageSettings>()?, upsert).await?;
    }
    let existing = status::list(conn, tenant_id, true).await?;
    for (position, name) in [(2, "Research phase"), (3, "Generating hypothesis"), (4, "Containment")] {
        if !existing.iter().any(|s| s.name.eq_ignore_ascii_case(name)) {
            let new = NewStatus {
                name: name.to_owned(),
                category: StatusCategory::Open,
                position: Some(position),
                is_default: false,
                pauses_sla: false,
            };
            status::create(conn, &lead.grant::<ManageSettings>()?, new).await?;
        }
    }
    // SLA policies a SOC would start from, unless the tenant has its own.
    if sla::policies(conn, tenant_id).await?.is_empty() {
        let starting = [
            (None, "PT4H", "P3D"),
            (Some(CasePriority::High), "PT1H", "P1D"),
            (Some(CasePriority::Critical), "PT15M", "PT4H"),
        ];
        for (priority, acknowledge, resolve) in starting {
            let policy = PolicyInput {
                priority,
                acknowledge_within: Some(acknowledge.to_owned()),
                resolve_within: Some(resolve.to_owned()),
                at_risk_percent: None,
            };
            sla::set_policy(conn, &lead.grant::<ManageSettings>()?, policy).await?;
        }
    }
    let names: Vec<String> = TAGS.iter().map(|t| (*t).to_owned()).collect();
    let tags = tag::ensure(conn, tenant_id, &names.iter().collect::<Vec<_>>(), now()).await?;
    Ok((status::list(conn, tenant_id, false).await?, tags))
}

fn incident_row(rng: &mut StdRng, tenant_id: &str, n: usize) -> IncidentRow {
    let title =
        format!("{} on {}", THREATS[rng.random_range(0..THREATS.len())], PLACES[rng.random_range(0..PLACES.len())]);
    let external_id = format!("DET-{}-{n:06}", rng.random_range(1000..9999));
    let created = now() - Duration::minutes(rng.random_range(0..90 * 24 * 60));
    let severity = IncidentSeverity::ALL[rng.random_range(0..IncidentSeverity::ALL.len())];
    let status = IncidentStatus::ALL[rng.random_range(0..IncidentStatus::ALL.len())];
    IncidentRow::new(tenant_id, Some(external_id), title, (severity, status), created)
}

/// What every batch of cases draws from.
struct World<'a> {
    lead: &'a Principal,
    statuses: &'a [Status],
    incidents: &'a [(i64, String)],
    /// The tenant's tags, (id, name).
    tags: &'a [(i64, String)],
    policies: &'a [sla::Policy],
    fixed: Option<PerCase>,
}

async fn seed_batch(
    conn: &mut Conn<'_>,
    rng: &mut StdRng,
    world: &World<'_>,
    first_id: i64,
    count: usize,
) -> AppResult<DemoSummary> {
    let World { lead, statuses, incidents, tags, policies, fixed } = *world;
    let tenant_id = lead.tenant.as_str();
    let mut cases = Vec::with_capacity(count);
    let mut tasks = Vec::new();
    let mut plans = Vec::with_capacity(count);
    let mut evidence = Vec::with_capacity(count);
    let today = now();
    for n in 0..count {
        let plan = CasePlan::draw(rng, statuses, incidents.len(), fixed);
        let id = first_id + n as i64;
        let title =
            format!("{} on {}", THREATS[rng.random_range(0..THREATS.len())], PLACES[rng.random_range(0..PLACES.len())]);
        let description = rng.random_bool(0.8).then(|| case_description(rng, id));
        let status = &statuses[plan.status];
        let assignee = rng.random_bool(0.85).then(|| PEOPLE[rng.random_range(0..PEOPLE.len())].0.to_owned());
        let due_on = rng.random_bool(0.6).then(|| plan.created + Duration::days(rng.random_range(1..30)));
        for t in 0..plan.tasks {
            let done = rng.random_bool(0.4);
            tasks.push(TaskRow {
                tenant_id: tenant_id.to_owned(),
                case_id: id,
                title: TASKS[(t + n) % TASKS.len()].to_owned(),
                description: None,
                status: if done { TaskStatus::Completed } else { TaskStatus::ALL[rng.random_range(0..3)] },
                priority: rng.random_range(0..=5),
                owner_id: rng.random_bool(0.7).then(|| PEOPLE[rng.random_range(0..PEOPLE.len())].0.to_owned()),
                due_on: None,
                closing_notes: done.then(|| "Done; evidence attached.".to_owned()),
                created_by: lead.user_id.clone(),
                created_at: plan.created,
                updated_by: lead.user_id.clone(),
                updated_at: plan.created,
            });
        }
        let found = EvidencePlan::draw(id)?;
        let closing = (status.category == StatusCategory::Closed).then(|| closing_of(id));
        let evidence_events = found.audits().len();
        evidence.push(found);
        let acknowledged = assignee.is_some() || status.category != StatusCategory::New;
        let priority = rng.random_range(0..=5);
        let clock = sla::Clock {
            created_at: plan.created,
            acknowledged_at: acknowledged.then(|| plan.created + Duration::minutes(5 + id % 90)),
            closed_at: closing.map(|_| plan.updated),
            paused_since: None,
            paused_seconds: 0,
            // The demo's history does not make the monitor announce it.
            events_from: Some(today),
        };
        let policy = sla::policy_for(policies, CasePriority::from_rank(priority));
        let schedule = sla::Schedule::of(policy, &clock);
        cases.push(CaseRow {
            tenant_id: tenant_id.to_owned(),
            id,
            title_key: title.to_lowercase(),
            title,
            description,
            priority,
            status_id: status.id.0,
            assignee_id: assignee,
            due_on,
            created_by: lead.user_id.clone(),
            created_at: plan.created,
            updated_by: lead.user_id.clone(),
            updated_at: plan.updated,
            version: 1
                + plan.tasks as i32
                + plan.links.len() as i32
                + i32::from(plan.status != 0)
                + evidence_events as i32,
            activity_seq: (plan.entries() + evidence_events) as i64,
            classification: closing.map(|(c, _)| c),
            determination: closing.map(|(_, d)| d),
            closing_comment: closing.map(|_| "Closed after review.".to_owned()),
            acknowledged_at: clock.acknowledged_at,
            closed_at: clock.closed_at,
            paused_since: None,
            paused_seconds: 0,
            sla: schedule.stored(),
            sla_events_from: clock.events_from,
        });
        plans.push(plan);
    }
    case::insert_rows(conn, &cases).await?;
    let mut task_ids = Vec::with_capacity(tasks.len());
    for chunk in tasks.chunks(CHUNK) {
        task_ids.extend(task::insert_rows(conn, chunk).await?);
    }

    // Links and the audit trail that would have recorded all of it.
    let mut links = Vec::new();
    let mut entries = Vec::new();
    let mut task_cursor = 0usize;
    let (mut observables, mut case_tags, mut case_techniques) = (Vec::new(), Vec::new(), Vec::new());
    for ((case, plan), found) in cases.iter().zip(&plans).zip(&evidence) {
        let mut seq = 0;
        let mut next = || {
            seq += 1;
            seq
        };
        let at = case.created_at;
        let created =
            NewAudit::new(AuditAction::CaseCreated, vec![FieldChange::new("title", None, Some(case.title.clone()))]);
        entries.push(ActivityInsert::audit(tenant_id, case.id, next(), &lead.user_id, at, created, None)?);
        for task in &tasks[task_cursor..task_cursor + plan.tasks] {
            let audit = NewAudit {
                task_id: Some(task_ids[task_cursor]),
                ..NewAudit::new(
                    AuditAction::TaskCreated,
                    vec![FieldChange::new("title", None, Some(task.title.clone()))],
                )
            };
            entries.push(ActivityInsert::audit(tenant_id, case.id, next(), &lead.user_id, at, audit, None)?);
            task_cursor += 1;
        }
        for &link in &plan.links {
            let (incident_id, title) = &incidents[link];
            links.push(LinkRow {
                tenant_id: tenant_id.to_owned(),
                case_id: case.id,
                incident_id: *incident_id,
                linked_by: lead.user_id.clone(),
                linked_at: at,
            });
            let audit = NewAudit {
                incident_id: Some(*incident_id),
                ..NewAudit::new(
                    AuditAction::IncidentLinked,
                    vec![FieldChange::new("incident", None, Some(title.clone()))],
                )
            };
            entries.push(ActivityInsert::audit(tenant_id, case.id, next(), &lead.user_id, at, audit, None)?);
        }
        if plan.status != 0 {
            let mut changes = vec![FieldChange::new(
                "status",
                Some(statuses[0].name.clone()),
                Some(statuses[plan.status].name.clone()),
            )];
            // A move to a CLOSED status records how the case was classified.
            let closing = [
                ("classification", case.classification.map(|c| c.as_str().to_owned())),
                ("determination", case.determination.map(|d| d.as_str().to_owned())),
                ("closingComment", case.closing_comment.clone()),
            ];
            changes.extend(closing.into_iter().filter(|(_, v)| v.is_some()).map(|(f, v)| FieldChange::new(f, None, v)));
            let audit = NewAudit::new(AuditAction::CaseUpdated, changes);
            entries.push(ActivityInsert::audit(
                tenant_id,
                case.id,
                next(),
                &lead.user_id,
                case.updated_at,
                audit,
                None,
            )?);
        }
        for audit in found.audits() {
            entries.push(ActivityInsert::audit(tenant_id, case.id, next(), &lead.user_id, at, audit, None)?);
        }
        let id = CaseId(case.id);
        observables
            .extend(found.observables.iter().map(|o| ObservableInsert::new(tenant_id, id, o, &lead.user_id, at)));
        for name in &found.tags {
            let (tag_id, _) = tags
                .iter()
                .find(|(_, n)| tag::key(n) == tag::key(name))
                .ok_or_else(|| crate::error::AppError::internal(format!("the demo tag {name} was not made")))?;
            case_tags.push(CaseTagRow {
                tenant_id: tenant_id.to_owned(),
                case_id: case.id,
                tag_id: *tag_id,
                added_by: lead.user_id.clone(),
                added_at: at,
            });
        }
        case_techniques.extend(found.techniques.iter().map(|t| CaseTechniqueRow {
            tenant_id: tenant_id.to_owned(),
            case_id: case.id,
            technique_id: (*t).to_owned(),
            added_by: lead.user_id.clone(),
            added_at: at,
        }));
        for c in 0..plan.comments {
            let author = PEOPLE[(c + case.id as usize) % PEOPLE.len()].0;
            let body = comment_body(rng, c + case.id as usize);
            entries.push(ActivityInsert::comment(tenant_id, case.id, next(), author, case.updated_at, &body));
        }
    }
    for chunk in links.chunks(CHUNK) {
        incident::insert_links(conn, chunk).await?;
    }
    for chunk in observables.chunks(CHUNK / 2) {
        observable::insert_rows(conn, chunk).await?;
    }
    for chunk in case_tags.chunks(CHUNK) {
        tag::insert_links(conn, chunk).await?;
    }
    for chunk in case_techniques.chunks(CHUNK) {
        attack::insert_rows(conn, chunk).await?;
    }
    let mut entry_ids = std::collections::HashMap::with_capacity(entries.len());
    for chunk in entries.chunks(CHUNK) {
        entry_ids
            .extend(activity::insert_rows(conn, chunk).await?.into_iter().map(|(id, case, seq)| ((case, seq), id)));
    }

    // What search finds: every case, task and comment.
    let mut found = Vec::with_capacity(cases.len() + tasks.len() + entries.len());
    for (case, evidence) in cases.iter().zip(&evidence) {
        let values: Vec<&str> = evidence.observables.iter().map(|o| o.normalized.as_str()).collect();
        found.push(EntryRow::case(tenant_id, CaseId(case.id), &case.title, case.description.as_deref(), &values));
    }
    for (task, id) in tasks.iter().zip(&task_ids) {
        found.push(EntryRow::task(tenant_id, *id, CaseId(task.case_id), &task.title, task.description.as_deref()));
    }
    for entry in entries.iter().filter(|e| e.body.is_some()) {
        let id = entry_ids.get(&(entry.case_id, entry.seq)).copied().ok_or_else(|| {
            crate::error::AppError::internal(format!(
                "comment {} of case {} was not inserted",
                entry.seq, entry.case_id
            ))
        })?;
        found.push(EntryRow::comment(tenant_id, id, CaseId(entry.case_id), entry.body.as_deref()));
    }
    for chunk in found.chunks(CHUNK) {
        search::index_new(conn, chunk).await?;
    }
    Ok(DemoSummary {
        cases: cases.len() as u64,
        tasks: tasks.len() as u64,
        incidents: 0,
        activity: entries.len() as u64,
    })
}

/// What one demo case will hold.
struct CasePlan {
    status: usize,
    tasks: usize,
    links: Vec<usize>,
    comments: usize,
    created: NaiveDateTime,
    updated: NaiveDateTime,
}

impl CasePlan {
    fn draw(rng: &mut StdRng, statuses: &[Status], incident_count: usize, fixed: Option<PerCase>) -> Self {
        let per_case = fixed.unwrap_or_else(|| PerCase {
            tasks: rng.random_range(0..=10),
            incidents: rng.random_range(0..=3),
            comments: rng.random_range(0..=8),
        });
        let mut links: Vec<usize> = Vec::with_capacity(per_case.incidents);
        while links.len() < per_case.incidents.min(incident_count) {
            let pick = rng.random_range(0..incident_count);
            if !links.contains(&pick) {
                links.push(pick);
            }
        }
        let created = now() - Duration::minutes(rng.random_range(60..90 * 24 * 60));
        let updated = created + Duration::minutes(rng.random_range(0..60));
        CasePlan {
            status: rng.random_range(0..statuses.len()),
            tasks: per_case.tasks,
            links,
            comments: per_case.comments,
            created,
            updated,
        }
    }

    fn entries(&self) -> usize {
        1 + self.tasks + self.links.len() + usize::from(self.status != 0) + self.comments
    }
}
