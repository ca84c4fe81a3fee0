//! The lifecycle state machine over a real store, with lifecycle
//! executions that have already ended (as after a crash between an
//! execution's end and the status change).

use std::sync::{Arc, Mutex};

use super::*;
use crate::instances::{InstanceConfigs, NewInstance};
use crate::storage::{IntegrationRecord, SecretBox, SledStore, Storage, TenantRecord};

const TWO_DEPLOYS: &str = r#"
name: twice
version: 1
flows:
  - name: first
    trigger: { type: deploy }
    steps: [ { id: a, component: echo@1.0.0, action: echo, input: {} } ]
  - name: second
    trigger: { type: deploy }
    steps: [ { id: a, component: echo@1.0.0, action: echo, input: {} } ]
  - name: down
    trigger: { type: teardown }
    steps: [ { id: a, component: echo@1.0.0, action: echo, input: {} } ]
"#;

/// Lifecycle executions that have all ended already (as after a crash
/// between an execution's end and the status change), with `ok`.
/// No scheduler in these tests: changes are told to nobody.
struct NoSchedules;

impl crate::instances::InstanceListener for NoSchedules {
    fn changed(&self, _: &InstanceRecord) {}
}

struct Ended {
    ok: bool,
    submitted: Mutex<Vec<(String, String)>>,
}

impl Lifecycle for Ended {
    fn submit<'a>(
        &'a self,
        _: &'a InstanceRecord,
        flow: &'a str,
        _: LifecycleKind,
        key: &'a str,
    ) -> BoxFuture<'a, Result<LifecycleExecution, String>> {
        self.submitted
            .lock()
            .unwrap()
            .push((flow.to_owned(), key.to_owned()));
        let ok = self.ok;
        Box::pin(async move {
            Ok(LifecycleExecution {
                id: format!("exec-{flow}"),
                outcome: Some(ok),
            })
        })
    }
}

/// An instance of `twice@1` left `status` by a stopped host in
/// transition `run`.
fn left_in(status: InstanceStatus, ok: bool) -> (Instances, Arc<Ended>, String, String) {
    let dir = std::env::temp_dir().join(format!("weft-lifecycle-{}", uuid::Uuid::now_v7()));
    let store: Arc<dyn Storage> = Arc::new(SledStore::open(&dir).unwrap());
    let model = crate::integration::parse(TWO_DEPLOYS).unwrap();
    store
        .insert_integration(&IntegrationRecord {
            name: model.name.clone(),
            version: model.version,
            text: TWO_DEPLOYS.to_owned(),
            model,
            components: vec!["echo@1.0.0".into()],
            created_at: chrono::Utc::now(),
        })
        .unwrap();
    store
        .insert_tenant(&TenantRecord {
            name: "acme".into(),
            created_at: chrono::Utc::now(),
        })
        .unwrap();
    let ended = Arc::new(Ended {
        ok,
        submitted: Mutex::new(Vec::new()),
    });
    let instances = Instances::new(
        InstanceConfigs::new(store.clone(), SecretBox::new([7; 32]), "http://x"),
        ended.clone(),
        Arc::new(NoSchedules),
    );
    let id = instances
        .create(NewInstance {
            integration: "twice@1".into(),
            tenant: "acme".into(),
            ..NewInstance::default()
        })
        .unwrap()
        .id;
    let run = "run-1".to_owned();
    store
        .update_instance(&id, &mut |r| {
            r.status = status;
            r.lifecycle_run = Some(run.clone());
        })
        .unwrap();
    (instances, ended, id, run)
}

#[tokio::test]
async fn a_transition_whose_flows_ended_before_a_crash_settles_on_recovery() {
    let (instances, ended, id, run) = left_in(InstanceStatus::Deploying, true);
    assert_eq!(instances.recover_lifecycles().unwrap(), 1);
    let settled = instances
        .wait_settled(&id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(settled.status, InstanceStatus::Active);
    assert_eq!(
        settled.last_lifecycle_execution.as_deref(),
        Some("exec-second")
    );
    let key = lifecycle_key(&run);
    assert_eq!(
        *ended.submitted.lock().unwrap(),
        [
            ("first".to_owned(), key.clone()),
            ("second".to_owned(), key)
        ],
        "every deploy flow, in file order, under the transition's key"
    );
    // Driving it again changes nothing.
    let again = instances.drive(&id, &run).await.unwrap();
    assert_eq!(again.instance.status, InstanceStatus::Active);
}

#[tokio::test]
async fn a_failed_deploy_flow_ends_the_transition_deploy_failed() {
    let (instances, ended, id, run) = left_in(InstanceStatus::Deploying, false);
    let started = instances.drive(&id, &run).await.unwrap();
    assert_eq!(started.instance.status, InstanceStatus::DeployFailed);
    assert_eq!(
        ended.submitted.lock().unwrap().len(),
        1,
        "the second never ran"
    );
    // A stale transition id moves nothing.
    let (instances, _, id, _) = left_in(InstanceStatus::Disabling, true);
    let stale = instances.drive(&id, "another-run").await.unwrap();
    assert_eq!(stale.instance.status, InstanceStatus::Disabling);
}

#[tokio::test]
async fn wrong_states_are_refused_and_a_failed_teardown_still_disables() {
    let (instances, _, id, _) = left_in(InstanceStatus::Created, false);
    let refused = instances.disable(&id).await.unwrap_err();
    assert!(
        matches!(
            refused,
            InstanceError::WrongState {
                status: InstanceStatus::Created,
                ..
            }
        ),
        "{refused}"
    );
    let (instances, _, id, _) = left_in(InstanceStatus::Active, false);
    assert!(matches!(
        instances.enable(&id).await,
        Err(InstanceError::WrongState { .. })
    ));
    let disabled = instances.disable(&id).await.unwrap();
    assert_eq!(disabled.instance.status, InstanceStatus::Disabled);
    assert_eq!(disabled.execution_id.as_deref(), Some("exec-down"));
}
