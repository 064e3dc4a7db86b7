"""Per-user statistics: one covering-index GROUP BY."""

from __future__ import annotations

from typing import Any

from localgene.jobs.status import ORDER
from localgene.store.connection import StoreBase
from localgene.store.query import INT64_MAX, check_paging


class StoreStatistics(StoreBase):
    """The statistics endpoint's numbers."""

    def statistics(
        self,
        project_id: str,
        start: int | None = None,
        end: int | None = None,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """The spec's statistics of every job of ``project_id`` started in ``[start, end]``.

        ``owner=None`` is the tenant administrator's view (every user, with ``users``);
        an owner gets only their own totals, ``total_user_num`` 1 and no ``users``.
        """
        check_paging(start=start, end=end)
        self._repair()
        params: list[Any] = [project_id]
        owner_sql = ""
        if owner is not None:
            owner_sql = " AND owner = ?"
            params.append(owner)
        params += [0 if start is None else start, INT64_MAX if end is None else end]
        rows = (
            self._connect()
            .execute(
                f"""SELECT owner, status, count(*) AS n, sum(input_size) AS size
                FROM jobs INDEXED BY jobs_stats
                WHERE project_id = ?{owner_sql} AND start_time >= ? AND start_time <= ?
                GROUP BY owner, status ORDER BY owner""",
                params,
            )
            .fetchall()
        )
        users: dict[str, dict[str, int]] = {}
        for row in rows:
            user = users.setdefault(
                row["owner"],
                {"user_name": row["owner"], **{f"{s.value.lower()}_num": 0 for s in ORDER}, "input_size": 0},
            )
            user[f"{row['status'].lower()}_num"] = row["n"]
            user["input_size"] += int(row["size"])
        result: dict[str, Any] = {
            "total_user_num": 1 if owner is not None else len(users),
            "total_launching_num": 0,
            "total_running_num": 0,
            "total_failed_num": 0,
            "total_finished_num": 0,
            "total_canceling_num": 0,
            "total_cancelled_num": 0,
            "total_input_size": 0,
        }
        for user in users.values():
            for s in ORDER:
                result[f"total_{s.value.lower()}_num"] += user[f"{s.value.lower()}_num"]
            result["total_input_size"] += user["input_size"]
        if owner is None:
            result["users"] = [
                {
                    "user_name": u["user_name"],
                    "launching_num": u["launching_num"],
                    "running_num": u["running_num"],
                    "failed_num": u["failed_num"],
                    "finished_num": u["finished_num"],
                    "canceling_num": u["canceling_num"],
                    "cancelled_num": u["cancelled_num"],
                    "input_size": u["input_size"],
                }
                for u in users.values()
            ]
        return result

