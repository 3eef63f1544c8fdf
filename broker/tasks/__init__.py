"""Task types as plug-ins: one module per task type, one record each (broker.tasks.base.TaskType),
one registry (broker.tasks.registry). The engine branches on a task type's properties, never on
its name."""
