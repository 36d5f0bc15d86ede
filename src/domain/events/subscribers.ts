// Imported once by every process (API and worker) so the domains that react to events register
// their handlers with onEvent() before the first request. Add one import per reacting module.
import '../achievements/subscribers.js';
