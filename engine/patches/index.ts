export { installDependencyPatches } from './install';
export type { DependencyPatchState } from './dependency-patch';
