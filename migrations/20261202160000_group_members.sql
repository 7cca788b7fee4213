-- Ordered groups: a member's standing and its group's settling read the
-- members of one group by their place.
CREATE INDEX deliveries_group ON deliveries (group_id, group_order) WHERE group_id IS NOT NULL;
