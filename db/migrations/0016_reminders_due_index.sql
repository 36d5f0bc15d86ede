-- Reminder jobs fire the other reminders already due in batches (fireDueReminders): this finds them
-- oldest first without reading fired ones.
create index reminders_due_idx on reminders (scheduled_at, id) where not fired;
