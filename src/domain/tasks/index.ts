// The task use cases other domains call (AI confirm-action, issue #4), with the same rules as the
// HTTP operations. Each takes the database or a transaction and an Actor (source `ai` for
// confirmed AI actions) and answers what the response needs, with `unlockedAchievements`.
export { createTask, type CreateTaskInput, type TaskResult } from './create-task.js';
export { updateTask, type UpdateTaskInput, type UpdateTaskOptions } from './update-task.js';
export { completeTask } from './complete-task.js';
export { createSubtasks, type SubtasksResult } from '../subtasks/create-subtasks.js';
export { presentTask, type Task } from './present.js';
