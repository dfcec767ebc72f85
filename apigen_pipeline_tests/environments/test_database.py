import pytest

from apigen_pipeline.environments.database import Database, SeedSnapshot, canonical_json, full_state_hash


@pytest.fixture()
def snapshot() -> SeedSnapshot:
    return SeedSnapshot({
        "users": {"u1": {"name": "Ann", "tags": ["a"], "address": {"city": "Oslo", "zip": "0150"}},
                  "u2": {"name": "Bo", "tags": [], "address": {"city": "Rome", "zip": "00100"}}},
        "orders": {"o1": {"user": "u1", "status": "pending"}},
    })


def test_fresh_database_hash_equals_full_hash_of_seed(snapshot):
    assert Database(snapshot).state_hash() == full_state_hash(snapshot.tables)


def test_incremental_hash_matches_full_recomputation_after_writes(snapshot):
    db = Database(snapshot)
    db.get_for_update("users", "u1")["address"]["city"] = "Bergen"
    db.insert("orders", "o2", {"user": "u2", "status": "pending"})
    db.delete("orders", "o1")
    assert db.state_hash() == full_state_hash(db.materialize())
    assert db.state_hash() != Database(snapshot).state_hash()


def test_every_kind_of_write_changes_the_hash(snapshot):
    base = Database(snapshot).state_hash()
    for mutate in (
        lambda db: db.get_for_update("users", "u2").update(name="Bob"),
        lambda db: db.insert("users", "u3", {"name": "Cy"}),
        lambda db: db.delete("users", "u2"),
        lambda db: db.get_for_update("users", "u1")["tags"].append("b"),
    ):
        db = Database(snapshot)
        mutate(db)
        assert db.state_hash() != base


def test_reverting_a_change_restores_the_hash(snapshot):
    db = Database(snapshot)
    before = db.state_hash()
    db.get_for_update("orders", "o1")["status"] = "cancelled"
    db.get_for_update("orders", "o1")["status"] = "pending"
    assert db.state_hash() == before


def test_same_changes_on_two_databases_give_same_hash(snapshot):
    first, second = Database(snapshot), Database(snapshot)
    for db in (first, second):
        db.get_for_update("orders", "o1")["status"] = "cancelled"
        db.insert("orders", "o9", {"user": "u1", "status": "pending"})
    assert first.state_hash() == second.state_hash()


def test_writes_never_touch_the_seed(snapshot):
    before = snapshot.to_bytes()
    db = Database(snapshot)
    db.get_for_update("users", "u1")["address"]["zip"] = "9999"
    db.delete("users", "u2")
    assert snapshot.to_bytes() == before
    assert Database(snapshot).get("users", "u1")["address"]["zip"] == "0150"


def test_diff_names_exactly_the_changed_records_and_fields(snapshot):
    before, after = Database(snapshot), Database(snapshot)
    after.get_for_update("users", "u1")["address"]["city"] = "Bergen"
    after.get_for_update("users", "u2")  # touched but unchanged: not in the diff
    after.insert("orders", "o2", {"user": "u2", "status": "pending"})
    diff = before.diff(after)
    assert diff.changed_records == {("users", "u1"), ("orders", "o2")}
    paths = {(c.table, c.record_id, c.path) for c in diff.changes}
    assert paths == {("users", "u1", "address.city"), ("orders", "o2", "")}
    change = next(c for c in diff.changes if c.path == "address.city")
    assert (change.before, change.after) == ("Oslo", "Bergen")
    assert "users[u1].address.city" in diff.render()


def test_diff_across_different_seeds_compares_everything():
    a = Database(SeedSnapshot({"t": {"1": {"v": 1}}}))
    b = Database(SeedSnapshot({"t": {"1": {"v": 2}, "2": {"v": 3}}}))
    assert a.diff(b).changed_records == {("t", "1"), ("t", "2")}


def test_savepoint_and_rollback(snapshot):
    db = Database(snapshot)
    db.get_for_update("users", "u1")["name"] = "Anna"
    hash_before, savepoint = db.state_hash(), db.savepoint()
    db.get_for_update("users", "u1")["name"] = "Annie"
    db.insert("users", "u5", {"name": "E"})
    db.rollback(savepoint)
    assert db.state_hash() == hash_before
    assert db.get("users", "u5") is None


def test_ids_and_counts_follow_inserts_and_deletes(snapshot):
    db = Database(snapshot)
    db.insert("users", "u3", {"name": "Cy"})
    db.delete("users", "u1")
    assert sorted(db.ids("users")) == ["u2", "u3"]
    assert db.count("users") == 2
    with pytest.raises(KeyError):
        db.insert("users", "u2", {})
    with pytest.raises(KeyError):
        db.delete("users", "u1")


def test_canonical_json_is_key_order_independent():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json({"a": [1, {"c": 3, "d": 2}], "b": 1})
