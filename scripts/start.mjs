// `npm start`: compiles dist/ (scripts/build.mjs) and runs the service from it, in this one
// process, so that the banner's "up in N s" (process.uptime()) counts the build too. Plain
// JavaScript, found from its own location, so it runs from any folder.
import './build.mjs';

await import('../dist/scripts/start.js');
