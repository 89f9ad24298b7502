// Pages and who may open them: signed-in pages send the person to sign in and back again.
import { createRouter, createWebHistory } from 'vue-router';
import { session, whenSessionEnds } from './api';

const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', name: 'library', component: () => import('./views/LibraryPage.vue') },
    { path: '/signin', name: 'signin', component: () => import('./views/SignInPage.vue') },
    { path: '/signup', name: 'signup', component: () => import('./views/SignUpPage.vue') },
    { path: '/upload', name: 'upload', component: () => import('./views/UploadPage.vue'), meta: { auth: true } },
    { path: '/mine', name: 'mine', component: () => import('./views/MyVideosPage.vue'), meta: { auth: true } },
    { path: '/watch/:id', name: 'watch', component: () => import('./views/WatchPage.vue') },
    { path: '/:rest(.*)*', name: 'missing', component: () => import('./views/NotFoundPage.vue') },
  ],
  scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
});

router.beforeEach((to) => {
  if (to.meta.auth && !session.current) {
    return { name: 'signin', query: { next: to.fullPath } };
  }
});

// A session that cannot be renewed: sign in again, then come back here.
whenSessionEnds(() => {
  const here = router.currentRoute.value;
  if (here.name !== 'signin') router.push({ name: 'signin', query: { next: here.fullPath } });
});

export default router;
