/** Recomputes extent states from their fragments: good = state ok on a disk that has not failed. */
export const RECOMPUTE_STATE = `
  UPDATE extents SET state = (
    SELECT CASE
      WHEN coalesce(sum(f.state = 'ok' AND coalesce(d.state, 'failed') <> 'failed'), 0) >= extents.width THEN 'healthy'
      WHEN coalesce(sum(f.state = 'ok' AND coalesce(d.state, 'failed') <> 'failed'), 0) >= extents.need THEN 'degraded'
      ELSE 'unrecoverable' END
    FROM fragments f LEFT JOIN disks d ON d.id = f.disk_id WHERE f.extent_id = extents.id)`;
